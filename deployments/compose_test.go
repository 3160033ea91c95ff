package deployments

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "compose/compose.yaml"

// loadCompose loads the Compose file with compose-go, the loader Docker
// Compose itself uses: schema validation, anchors and merges,
// interpolation (with an empty environment, so the defaults in the file
// are what is checked) and reference consistency. The tools profile is
// enabled so the token service is checked too.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv([]string{}),
		cli.WithDiscardEnvFile,
		cli.WithProfiles([]string{"tools"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("compose-go rejects %s: %v", composeFile, err)
	}
	return p
}

// isOvation reports whether a service runs the image built from
// deployments/Dockerfile.
func isOvation(s types.ServiceConfig) bool {
	return s.Build != nil && strings.HasSuffix(s.Build.Dockerfile, "deployments/Dockerfile")
}

// ovationArgs is what follows the ovation binary in s: the entrypoint
// after the binary (when it names one), then the command.
func ovationArgs(s types.ServiceConfig) []string {
	var args []string
	if len(s.Entrypoint) > 0 {
		args = append(args, s.Entrypoint[1:]...)
	}
	return append(args, s.Command...)
}

func role(s types.ServiceConfig) string {
	if a := ovationArgs(s); len(a) > 0 {
		return a[0]
	}
	return ""
}

func composeEnv(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

func TestComposeParsesAndUsesRealFlags(t *testing.T) {
	p := loadCompose(t)
	n := 0
	for _, name := range append(p.ServiceNames(), p.DisabledServiceNames()...) {
		s, err := p.GetService(name)
		if err != nil {
			s = p.DisabledServices[name]
		}
		if !isOvation(s) {
			continue
		}
		n++
		if s.Image != "ovation:local" {
			t.Errorf("compose service %s: image %q; every Ovation service must use the one image ovation:local built from deployments/Dockerfile", name, s.Image)
		}
		if len(s.Entrypoint) > 0 && s.Entrypoint[0] != dockerEntrypoint {
			t.Errorf("compose service %s: entrypoint %q does not start with the binary %s", name, s.Entrypoint, dockerEntrypoint)
		}
		checkInvocation(t, invocation{where: "compose service " + name, args: ovationArgs(s), env: keys(s.Environment)})
	}
	if n < 9 {
		t.Errorf("found %d Ovation services; want at least topics, token, 2 ingest, 2 process, 2 push, sink", n)
	}
}

// TestComposeTopology checks what the issue asks the Compose file to run,
// and that the pieces point at each other correctly.
func TestComposeTopology(t *testing.T) {
	p := loadCompose(t)
	count := map[string]int{}
	var kafkas []types.ServiceConfig
	for _, s := range p.Services {
		if isOvation(s) {
			count[role(s)]++
		}
		if strings.HasPrefix(s.Image, "apache/kafka:") {
			kafkas = append(kafkas, s)
		}
		if strings.HasPrefix(s.Image, "clickhouse/clickhouse-server:") {
			count["clickhouse"]++
		}
		if strings.HasPrefix(s.Image, "caddy:") {
			count["proxy"]++
		}
	}
	for r, want := range map[string]int{"ingest": 2, "push": 2, "process": 2, "sink": 2, "analytics": 2, "topics": 1, "clickhouse": 1, "proxy": 1} {
		if count[r] != want {
			t.Errorf("compose runs %d %s; want %d", count[r], r, want)
		}
	}

	// Kafka: three KRaft voters, each advertising its service name, all
	// listed in OVATION_KAFKA_BROKERS, with a valid cluster id.
	if len(kafkas) != 3 {
		t.Fatalf("compose runs %d apache/kafka brokers; want 3", len(kafkas))
	}
	var voters, brokers []string
	ids := map[string]bool{}
	for _, k := range kafkas {
		id := composeEnv(k, "KAFKA_NODE_ID")
		if ids[id] || id == "" {
			t.Errorf("kafka %s: node id %q missing or repeated", k.Name, id)
		}
		ids[id] = true
		if got, want := composeEnv(k, "KAFKA_ADVERTISED_LISTENERS"), "PLAINTEXT://"+k.Name+":9092"; got != want {
			t.Errorf("kafka %s advertises %q; want %q", k.Name, got, want)
		}
		if !strings.Contains(composeEnv(k, "KAFKA_PROCESS_ROLES"), "controller") {
			t.Errorf("kafka %s is not a KRaft controller", k.Name)
		}
		voters = append(voters, id+"@"+k.Name+":9093")
		brokers = append(brokers, k.Name+":9092")
		if v := composeEnv(k, "KAFKA_CONTROLLER_QUORUM_VOTERS"); v != composeEnv(kafkas[0], "KAFKA_CONTROLLER_QUORUM_VOTERS") {
			t.Errorf("kafka %s has a different voter list %q", k.Name, v)
		}
		cid, err := base64.RawURLEncoding.DecodeString(composeEnv(k, "CLUSTER_ID"))
		if err != nil || len(cid) != 16 {
			t.Errorf("kafka %s: CLUSTER_ID %q is not 16 bytes of base64url (%v)", k.Name, composeEnv(k, "CLUSTER_ID"), err)
		}
		if k.HealthCheck == nil || k.HealthCheck.Disable {
			t.Errorf("kafka %s has no health check", k.Name)
		}
	}
	gotVoters := strings.Split(composeEnv(kafkas[0], "KAFKA_CONTROLLER_QUORUM_VOTERS"), ",")
	slices.Sort(gotVoters)
	slices.Sort(voters)
	if !slices.Equal(gotVoters, voters) {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %v; the brokers are %v", gotVoters, voters)
	}
	slices.Sort(brokers)

	txnIDs := map[string]string{}
	for _, s := range p.Services {
		if !isOvation(s) {
			continue
		}
		where := "compose service " + s.Name
		if role(s) == "token" {
			continue // signs a token; talks to nothing
		}
		got := strings.Split(composeEnv(s, "OVATION_KAFKA_BROKERS"), ",")
		slices.Sort(got)
		if !slices.Equal(got, brokers) {
			t.Errorf("%s: OVATION_KAFKA_BROKERS %v; the brokers are %v", where, got, brokers)
		}
		switch role(s) {
		case "topics":
			if s.Restart != "no" {
				t.Errorf("%s: a one-shot job needs restart \"no\", has %q", where, s.Restart)
			}
			args := ovationArgs(s)
			if i := slices.Index(args, "--replication"); i < 0 || args[i+1] != strconv.Itoa(len(kafkas)) {
				t.Errorf("%s: want --replication %d (one replica per broker): %q", where, len(kafkas), args)
			}
			continue
		case "process":
			id := composeEnv(s, "OVATION_TRANSACTIONAL_ID")
			if id == "" {
				t.Errorf("%s: no OVATION_TRANSACTIONAL_ID: a restarted processor could not fence its zombie", where)
			} else if other, dup := txnIDs[id]; dup {
				t.Errorf("%s and %s share the transactional id %q: they would fence each other", where, other, id)
			}
			txnIDs[id] = s.Name
		case "push":
			drain, err := time.ParseDuration(composeEnv(s, "OVATION_DRAIN_WINDOW"))
			if err != nil {
				t.Errorf("%s: OVATION_DRAIN_WINDOW: %v", where, err)
			} else if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) < drain+5*time.Second {
				t.Errorf("%s: stop_grace_period %v leaves no room for the %v drain window: Docker would kill the pusher mid-drain", where, s.StopGracePeriod, drain)
			}
			if u := s.Ulimits["nofile"]; u == nil || u.Hard < 65536 {
				t.Errorf("%s: nofile ulimit %+v; a pusher needs a descriptor per viewer (want a hard limit of at least 65536)", where, u)
			}
		}
		// Long-running roles: health checked on their own /readyz, and
		// waiting for the topics.
		if len(s.Profiles) > 0 {
			continue
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable {
			t.Errorf("%s: no health check", where)
			continue
		}
		_, port, err := net.SplitHostPort(composeEnv(s, "OVATION_HTTP_ADDR"))
		if err != nil {
			t.Errorf("%s: OVATION_HTTP_ADDR %q: %v", where, composeEnv(s, "OVATION_HTTP_ADDR"), err)
		}
		if hc := strings.Join(s.HealthCheck.Test, " "); !strings.Contains(hc, "127.0.0.1:"+port+"/readyz") {
			t.Errorf("%s: health check %q does not probe /readyz on its port %s", where, hc, port)
		}
		if d, ok := s.DependsOn["topics"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: does not wait for the topics job to complete", where)
		}
	}
	for _, s := range p.Services {
		if !isOvation(s) && (s.HealthCheck == nil || s.HealthCheck.Disable) {
			t.Errorf("compose service %s: no health check", s.Name)
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("compose service %s mounts %s, which does not exist: %v", s.Name, v.Source, err)
				}
			}
		}
	}
}

// caddyRoutes maps each `handle` matcher of the Caddyfile to the upstreams
// of its reverse_proxy, and each named matcher to its path_regexp.
func caddyRoutes(t *testing.T) (routes map[string][]string, regexps map[string]string) {
	t.Helper()
	f, err := os.Open("compose/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	routes, regexps = map[string][]string{}, map[string]string{}
	handle := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch {
		case fields[0] == "handle":
			handle = ""
			if len(fields) > 2 {
				handle = fields[1]
			}
		case strings.HasPrefix(fields[0], "@") && len(fields) == 4 && fields[1] == "path_regexp":
			regexps[fields[0]] = fields[3]
		case fields[0] == "reverse_proxy":
			for _, u := range fields[1:] {
				if u == "{" {
					break
				}
				routes[handle] = append(routes[handle], u)
			}
		}
	}
	return routes, regexps
}

// TestCaddyfileRoutesToTheRoles checks that the proxy sends each public
// path to the role that serves it, on the port that role listens on.
func TestCaddyfileRoutesToTheRoles(t *testing.T) {
	p := loadCompose(t)
	routes, regexps := caddyRoutes(t)
	for _, c := range []struct {
		handle, role, samplePath string
		instances                int
	}{
		{"/v1/stream", "push", "/v1/stream", 2},
		{"@publish", "ingest", "/v1/rooms/show-42/events", 2},
		{"@analytics", "analytics", "/v1/rooms/show-42/analytics/summary", 2},
	} {
		ups := routes[c.handle]
		if len(ups) != c.instances {
			t.Errorf("Caddyfile: handle %s proxies to %v; want the %d %s services", c.handle, ups, c.instances, c.role)
		}
		for _, u := range ups {
			host, port, err := net.SplitHostPort(u)
			if err != nil {
				t.Errorf("Caddyfile upstream %q: %v", u, err)
				continue
			}
			s, err := p.GetService(host)
			if err != nil {
				t.Errorf("Caddyfile upstream %q is not a compose service", u)
				continue
			}
			if role(s) != c.role {
				t.Errorf("Caddyfile: %s goes to %s, which runs %q, not %q", c.handle, host, role(s), c.role)
			}
			if _, lp, _ := net.SplitHostPort(composeEnv(s, "OVATION_HTTP_ADDR")); lp != port {
				t.Errorf("Caddyfile: %s proxies to port %s but %s listens on %q", c.handle, port, host, composeEnv(s, "OVATION_HTTP_ADDR"))
			}
		}
		if strings.HasPrefix(c.handle, "@") {
			re, err := regexp.Compile(regexps[c.handle])
			if err != nil {
				t.Errorf("Caddyfile matcher %s: %v", c.handle, err)
			} else if !re.MatchString(c.samplePath) || re.MatchString("/v1/stream") {
				t.Errorf("Caddyfile matcher %s (%s) does not select %s alone", c.handle, regexps[c.handle], c.samplePath)
			}
		}
	}
	if re, err := regexp.Compile(regexps["@publish"]); err == nil && re.MatchString("/v1/rooms/a/analytics/summary") {
		t.Error("Caddyfile: @publish also matches analytics paths")
	}
}
