package deployments

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/chtest"
	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// deleteTopics removes the test's topics from the shared broker. It runs
// after the roles stopped (cleanups run last-in first-out).
func deleteTopics(t *testing.T, brokers []string, topics schemas.Topics) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).DeleteTopics(ctx, topics.Events, topics.Frames, topics.Snapshots, topics.Changelog, topics.DLQ)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Errorf("delete the test's topics: %v", err)
	}
}

// documentedMetric is one row of a table in docs/metrics.md.
type documentedMetric struct {
	name, typ, appears string
}

const metricsDoc = "docs/metrics.md"

// readMetricsDoc parses docs/metrics.md: each "## " section whose heading
// names `ovation ROLE` (or "Kafka client") holds a table | Metric | Type |
// Labels | Appears | Meaning |. It returns the rows by section: the role
// name, or "kafka".
func readMetricsDoc(t *testing.T) map[string][]documentedMetric {
	t.Helper()
	f, err := os.Open(repoRoot + "/" + metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc := map[string][]documentedMetric{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			section = ""
			for _, r := range []string{"ingest", "process", "push", "sink"} {
				if strings.Contains(line, "`ovation "+r+"`") {
					section = r
				}
			}
			if strings.Contains(line, "Kafka client") {
				section = "kafka"
			}
			continue
		}
		if section == "" || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Errorf("%s: row %q has %d cells; want Metric | Type | Labels | Appears | Meaning", metricsDoc, line, len(cells))
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		typ := strings.TrimSpace(cells[1])
		switch typ {
		case "counter", "gauge", "histogram":
		default:
			t.Errorf("%s: %s has type %q", metricsDoc, name, typ)
		}
		doc[section] = append(doc[section], documentedMetric{name, typ, strings.TrimSpace(cells[3])})
	}
	for _, s := range []string{"ingest", "process", "push", "sink", "kafka"} {
		if len(doc[s]) == 0 {
			t.Errorf("%s: no metrics table for %s", metricsDoc, s)
		}
	}
	return doc
}

// requiredOn reports whether the scrape of role must contain m, given
// whether m's section is the role's own. "always" is required everywhere;
// "after …" (made by the test's traffic) in the role's own section; "on …"
// (errors, disconnects) nowhere; "ROLES: a, b" on the roles listed.
func (m documentedMetric) requiredOn(role string, own bool) bool {
	switch {
	case m.appears == "always":
		return true
	case strings.HasPrefix(m.appears, "after "):
		return own
	case strings.HasPrefix(m.appears, "on "):
		return false
	}
	if _, list, ok := strings.Cut(m.appears, ":"); ok {
		for _, r := range strings.Split(list, ",") {
			if strings.TrimSpace(r) == role {
				return true
			}
		}
	}
	return false
}

func TestMetricsDocCoversDashboardAndAlerts(t *testing.T) {
	doc := readMetricsDoc(t)
	documented := families{}
	for _, rows := range doc {
		for _, m := range rows {
			documented[m.name] = m.typ
		}
	}
	for _, q := range append(dashboardQueries(t), ruleQueries(t)...) {
		for _, m := range metricNames(q.expr) {
			if !documented.has(m) {
				t.Errorf("%s queries %s, which %s does not document", q.where, m, metricsDoc)
			}
		}
	}
}

// TestRoleMetricsDocumented runs ingest, process, push and sink as their
// own processes against the real Kafka and ClickHouse, makes traffic of
// every kind through them, scrapes each /metrics, and checks it against
// docs/metrics.md both ways: every documented metric the role must have is
// there, and every ovation_* family it exports is documented.
func TestRoleMetricsDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four ovation processes")
	}
	brokers := kafkatest.Brokers(t)
	chAddr := chtest.Addr(t)
	db := chtest.Database(t, chAddr)
	doc := readMetricsDoc(t)

	prefix := "depl-" + randomSuffix()
	topics := schemas.Topics{Events: prefix + ".events", Frames: prefix + ".frames", Snapshots: prefix + ".snapshots", Changelog: prefix + ".changelog", DLQ: prefix + ".dlq"}
	secret := "deployments-test-secret-" + randomSuffix() + randomSuffix()
	common := []string{
		"OVATION_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"OVATION_TOPIC_EVENTS=" + topics.Events, "OVATION_TOPIC_FRAMES=" + topics.Frames,
		"OVATION_TOPIC_SNAPSHOTS=" + topics.Snapshots, "OVATION_TOPIC_CHANGELOG=" + topics.Changelog,
		"OVATION_TOPIC_DLQ=" + topics.DLQ,
	}
	authEnv := "OVATION_AUTH_HS256_SECRETS=" + secret

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := exec.CommandContext(ctx, ovationBinary(t), "topics", "create", "--partitions", "2", "--replication", "1")
	create.Env = append(cleanEnv(), common...)
	out, err := create.CombinedOutput()
	if err != nil {
		t.Fatalf("ovation topics create: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "created "); got != 5 {
		t.Fatalf("ovation topics create created %d topics; want 5:\n%s", got, out)
	}
	t.Cleanup(func() { deleteTopics(t, brokers, topics) })

	type role struct {
		name, addr string
		env        []string
		p          *proc
	}
	roles := []*role{
		{name: "ingest", addr: freeAddr(t), env: []string{authEnv}},
		{name: "process", addr: freeAddr(t), env: []string{"OVATION_GROUP=" + prefix + "-processors", "OVATION_TRANSACTIONAL_ID=" + prefix + "-process-0"}},
		{name: "push", addr: freeAddr(t), env: []string{authEnv, "OVATION_DRAIN_WINDOW=1s", "OVATION_MAX_ROOMS=2"}},
		{name: "sink", addr: freeAddr(t), env: []string{authEnv, "OVATION_CLICKHOUSE_ADDR=" + chAddr, "OVATION_CLICKHOUSE_DATABASE=" + db, "OVATION_FLUSH_INTERVAL=200ms"}},
	}
	for _, r := range roles {
		env := append(append([]string{"OVATION_HTTP_ADDR=" + r.addr}, common...), r.env...)
		// Every variable must be a real flag, or this test proves nothing.
		var names []string
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		checkInvocation(t, invocation{where: "test env of " + r.name, args: []string{r.name}, env: names})
		r.p = startOvation(t, r.name, env, r.name)
	}
	for _, r := range roles {
		r.p.waitReady(t, "http://"+r.addr, 90*time.Second)
	}

	token, err := auth.Sign([]byte(secret), "", &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Rooms:            map[string][]schemas.Capability{"*": {schemas.CapSubscribe, schemas.CapPublish, schemas.CapModerate, schemas.CapHost}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ingestURL, processURL, pushURL := "http://"+roles[0].addr, "http://"+roles[1].addr, roles[2].addr
	publishTraffic(t, ingestURL, "r1", token)
	produceGarbage(t, brokers, topics.Events, topics.Frames)
	if _, missing := waitFor(processURL, []string{"ovation_processor_frames_written_total"}, families.family, 30*time.Second); len(missing) > 0 {
		t.Fatalf("the processor wrote no frame in 30 s\n%s", roles[1].p.tail())
	}
	v := dialViewer(t, "ws://"+pushURL+"/v1/stream?token="+token)
	viewerTraffic(t, v, "r1")
	// A publish over the socket goes through the pusher's ingest path.
	v.send(`{"op":"publish","id":"p1","room":"r1","event":{"id":"ws-1","type":"reaction","data":{"emoji":"👏"}}}`)
	v.until("ack", "p1")
	// A third room over --max-rooms 2 is closed by the server with 4010.
	v2 := dialViewer(t, "ws://"+pushURL+"/v1/stream?token="+token)
	v2.until("welcome", "")
	for _, room := range []string{"a", "b", "c"} {
		v2.send(`{"op":"subscribe","room":"` + room + `"}`)
	}
	v2.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if _, _, err := v2.conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, 4010) {
				t.Errorf("subscribing a third room with --max-rooms 2: %v; want close 4010", err)
			}
			break
		}
	}

	for _, r := range roles {
		sections := map[string]bool{r.name: true, "kafka": false}
		if r.name == "push" {
			sections["ingest"] = false // the publish path runs in the pusher
		}
		var want []string
		for s, own := range sections {
			for _, m := range doc[s] {
				if m.requiredOn(r.name, own) {
					want = append(want, m.name)
				}
			}
		}
		base := "http://" + r.addr
		fams, missing := waitFor(base, want, families.family, 30*time.Second)
		for _, m := range missing {
			t.Errorf("ovation %s does not export %s, which %s documents", r.name, m, metricsDoc)
		}
		for name, typ := range fams {
			if !strings.HasPrefix(name, "ovation_") {
				continue
			}
			found := false
			for s := range sections {
				for _, m := range doc[s] {
					if m.name == name {
						found = true
						if m.typ != typ {
							t.Errorf("ovation %s exports %s as a %s; %s says %s", r.name, name, typ, metricsDoc, m.typ)
						}
					}
				}
			}
			if !found {
				t.Errorf("ovation %s exports %s (%s), which %s does not document in its section", r.name, name, typ, metricsDoc)
			}
		}
		t.Logf("ovation %s: %d ovation_* families checked against %s", r.name, len(want), metricsDoc)
		if t.Failed() {
			t.Log(r.p.tail())
		}
	}
	// Sanity: the scrapes were of live, ready processes.
	for _, r := range roles {
		if resp, err := http.Get("http://" + r.addr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("ovation %s no longer ready after the test's traffic: %v", r.name, err)
		} else {
			resp.Body.Close()
		}
	}
}
