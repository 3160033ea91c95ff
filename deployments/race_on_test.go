//go:build race

package deployments

// raceBuild is true when the tests run with -race: the ovation binary is
// then built with -race too, which reuses the race-built packages the other
// tests of `make test` already compiled, and turns a data race in a role
// under this package's traffic into a test failure.
const raceBuild = true
