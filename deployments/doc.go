// Package deployments holds no code. Its tests keep the deployment files
// in this directory honest: they parse the Compose file, the Kustomize base
// and overlay, the Prometheus rules and the Grafana dashboard, build the
// ovation binary, and check every subcommand, flag, OVATION_* variable and
// metric name those files use against what the binary really has (its
// --help output and a scraped /metrics). See docs/operations.md and
// docs/metrics.md.
package deployments
