package deployments

import (
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// dockerEntrypoint is where deployments/Dockerfile puts the binary; the
// manifests give only the arguments after it.
const dockerEntrypoint = "/usr/local/bin/ovation"

// servingRoles are the subcommands that run as long-lived services and so
// inherit the image's ENV.
var servingRoles = []string{"ingest", "process", "push", "sink", "analytics"}

// dockerInstructions returns the Dockerfile's instructions, continuation
// lines joined and comments dropped.
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == "") {
			continue
		}
		cur += " " + strings.TrimSuffix(trimmed, "\\")
		if strings.HasSuffix(trimmed, "\\") {
			continue
		}
		instr, rest, _ := strings.Cut(strings.TrimSpace(cur), " ")
		out = append(out, [2]string{strings.ToUpper(instr), strings.TrimSpace(rest)})
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	gomod, err := os.ReadFile(repoRoot + "/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	goVersion := string(m[1])

	var froms []string
	var built, copied bool
	var entrypoint []string
	env := map[string]string{}
	expose := ""
	for _, in := range dockerInstructions(t) {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
		case "RUN":
			if strings.Contains(in[1], "go build") && strings.Contains(in[1], "./cmd/ovation") && strings.Contains(in[1], "CGO_ENABLED=0") {
				built = true
			}
		case "COPY":
			f := strings.Fields(in[1])
			if len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[2] == dockerEntrypoint {
				copied = true
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in[1]), &entrypoint); err != nil {
				t.Errorf("ENTRYPOINT %s: want the exec (JSON) form, so signals reach ovation: %v", in[1], err)
			}
		case "ENV":
			for _, kv := range strings.Fields(in[1]) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "EXPOSE":
			expose = in[1]
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "golang:"+goVersion) {
		t.Errorf("Dockerfile: want a multi-stage build starting FROM golang:%s (go.mod says go %s); FROM lines: %q", goVersion, goVersion, froms)
	}
	if !built {
		t.Error("Dockerfile: no static `CGO_ENABLED=0 go build ... ./cmd/ovation`")
	}
	if !copied {
		t.Errorf("Dockerfile: the binary is not copied to %s", dockerEntrypoint)
	}
	if len(entrypoint) != 1 || entrypoint[0] != dockerEntrypoint {
		t.Errorf("Dockerfile: ENTRYPOINT %q; the manifests pass the subcommand as arguments, so it must be [%q]", entrypoint, dockerEntrypoint)
	}
	var names []string
	for k := range env {
		names = append(names, k)
	}
	for _, r := range servingRoles {
		checkInvocation(t, invocation{where: "Dockerfile ENV (inherited by `" + r + "`)", args: []string{r}, env: names})
	}
	if _, port, err := net.SplitHostPort(env["OVATION_HTTP_ADDR"]); err != nil || port != expose {
		t.Errorf("Dockerfile: EXPOSE %q but OVATION_HTTP_ADDR=%q", expose, env["OVATION_HTTP_ADDR"])
	}
}
