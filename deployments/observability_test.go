package deployments

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// promConfig is the part of prometheus.yml the Compose stack uses,
// decoded strictly.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// mounts maps a service's bind-mount targets to their sources.
func mounts(s types.ServiceConfig) map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			m[v.Target] = v.Source
		}
	}
	return m
}

// TestComposeObservability checks that the Compose stack's Prometheus
// scrapes every Ovation role where it listens and loads the shipped alert
// rules, and that Grafana gets the shipped dashboard and a Prometheus
// datasource.
func TestComposeObservability(t *testing.T) {
	p := loadCompose(t)
	var cfg promConfig
	decodeStrict(t, "prometheus/prometheus.yml", &cfg)

	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal("compose: no prometheus service")
	}
	pm := mounts(prom)
	cfgPath, _ := filepath.Abs("prometheus/prometheus.yml")
	if pm["/etc/prometheus/prometheus.yml"] != cfgPath {
		t.Errorf("prometheus mounts %q as its config; want %s", pm["/etc/prometheus/prometheus.yml"], cfgPath)
	}
	rulesPath, _ := filepath.Abs(rulesFile)
	for _, rf := range cfg.RuleFiles {
		if pm[rf] != rulesPath {
			t.Errorf("prometheus.yml loads %s, which is mounted from %q, not %s", rf, pm[rf], rulesPath)
		}
	}
	if len(cfg.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rule files")
	}

	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			if _, clash := st.Labels["role"]; clash {
				t.Errorf("job %s: a target label \"role\" would rename the Kafka metrics' own role label", sc.JobName)
			}
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("target %q: %v", target, err)
					continue
				}
				s, err := p.GetService(host)
				if err != nil || !isOvation(s) {
					t.Errorf("prometheus target %s is not an Ovation service of the Compose file", target)
					continue
				}
				if _, lp, _ := net.SplitHostPort(composeEnv(s, "OVATION_HTTP_ADDR")); lp != port {
					t.Errorf("prometheus scrapes %s on %s; it listens on %q", host, port, composeEnv(s, "OVATION_HTTP_ADDR"))
				}
				if st.Labels["component"] != role(s) {
					t.Errorf("prometheus labels %s component=%q; it runs %q", target, st.Labels["component"], role(s))
				}
				scraped[host] = true
			}
		}
	}
	for _, s := range p.Services {
		if isOvation(s) && s.Restart != "no" && len(s.Profiles) == 0 && !scraped[s.Name] {
			t.Errorf("prometheus does not scrape %s", s.Name)
		}
	}

	g, err := p.GetService("grafana")
	if err != nil {
		t.Fatal("compose: no grafana service")
	}
	gm := mounts(g)
	dash, _ := filepath.Abs(dashboardFile)
	prov, _ := filepath.Abs("grafana/provisioning")
	if gm["/etc/grafana/provisioning"] != prov {
		t.Errorf("grafana does not mount %s at /etc/grafana/provisioning", prov)
	}
	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Folder, Type string
			DisableDeletion    bool `yaml:"disableDeletion"`
			AllowUIUpdates     bool `yaml:"allowUiUpdates"`
			Options            struct{ Path string }
		} `yaml:"providers"`
	}
	decodeStrict(t, "grafana/provisioning/dashboards/ovation.yaml", &dp)
	if len(dp.Providers) != 1 || gm[dp.Providers[0].Options.Path+"/"+filepath.Base(dashboardFile)] != dash {
		t.Errorf("grafana's dashboard provider does not read %s where it is mounted (%v)", dashboardFile, gm)
	}
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, UID, Access, URL string
			IsDefault                    bool `yaml:"isDefault"`
			Editable                     bool
		} `yaml:"datasources"`
	}
	decodeStrict(t, "grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !ds.Datasources[0].IsDefault ||
		ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("grafana datasource %+v: want the default, of type prometheus, at http://prometheus:9090", ds.Datasources)
	}
}
