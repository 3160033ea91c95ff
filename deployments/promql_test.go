package deployments

import (
	"bufio"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"gopkg.in/yaml.v3"
)

// query is one PromQL expression in a shipped file and where it is.
type query struct {
	where string
	expr  string
}

// promKeywords are PromQL's functions, aggregations and keywords: every
// other identifier in an expression is a metric name.
var promKeywords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`sum min max avg group stddev stdvar count count_values bottomk topk quantile
		limitk limit_ratio rate irate increase delta idelta deriv predict_linear histogram_quantile
		histogram_fraction histogram_count histogram_sum histogram_avg histogram_stddev histogram_stdvar
		clamp clamp_min clamp_max abs absent absent_over_time ceil floor round exp ln log2 log10 sqrt sgn
		changes resets time timestamp vector scalar sort sort_desc label_replace label_join
		avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time
		stddev_over_time stdvar_over_time last_over_time present_over_time
		day_of_month day_of_week day_of_year days_in_month hour minute month year
		and or unless bool offset by without on ignoring group_left group_right inf nan atan2`) {
		promKeywords[w] = true
	}
}

var (
	grafanaVar   = regexp.MustCompile(`\$__\w+|\$\{[^}]*\}|\$\w+`)
	promString   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promIdent    = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)`)
)

// metricNames returns the metric names expr selects. It is not a PromQL
// parser, but it is strict where it matters: every identifier that is not
// a PromQL function or keyword counts as a metric, so a misspelt function
// shows up as an unknown metric rather than passing.
func metricNames(expr string) []string {
	s := grafanaVar.ReplaceAllString(expr, " ")
	s = promString.ReplaceAllString(s, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var out []string
	for _, m := range promIdent.FindAllStringSubmatch(s, -1) {
		if name := m[1]; !promKeywords[name] && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// balanced reports whether (), {} and [] nest properly outside strings.
func balanced(expr string) bool {
	s := promString.ReplaceAllString(expr, `""`)
	var stack []rune
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for _, r := range s {
		switch r {
		case '(', '{', '[':
			stack = append(stack, r)
		case ')', '}', ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0
}

func TestMetricNamesParser(t *testing.T) {
	for _, c := range []struct {
		expr string
		want string
	}{
		{`histogram_quantile(0.99, sum by (le) (rate(ovation_push_delivery_latency_seconds_bucket[$__rate_interval]))) > 1`, "ovation_push_delivery_latency_seconds_bucket"},
		{`sum(rate(a_total{reason=~"x|y", code!="by(z)"}[5m])) / clamp_min(sum(rate(b_total[5m])), 1e-9) > 0.05`, "a_total b_total"},
		{`sum(rate(x[1m])) == 0 and on() sum(y) > 0`, "x y"},
		{`sum by (instance) (ovation_push_connections)`, "ovation_push_connections"},
		{`sum(ratee(x[5m]))`, "ratee x"},
	} {
		if got := strings.Join(metricNames(c.expr), " "); got != c.want {
			t.Errorf("metricNames(%q) = %q; want %q", c.expr, got, c.want)
		}
	}
	if balanced(`sum(rate(x[5m])`) || !balanced(`sum(rate(x{a="("}[5m]))`) {
		t.Error("balanced is wrong")
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Type  string `json:"type"`
			Name  string `json:"name"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

const dashboardFile = "grafana/ovation-dashboard.json"

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows (collapsed rows hold their panels inside).
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func dashboardQueries(t *testing.T) []query {
	var qs []query
	for _, p := range allPanels(readDashboard(t).Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, query{"dashboard panel " + strings.TrimSpace(p.Title), tg.Expr})
		}
	}
	return qs
}

// rules is a Prometheus rules file.
type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

const rulesFile = "prometheus/ovation-rules.yaml"

func readRules(t *testing.T) rules {
	t.Helper()
	f, err := os.Open(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var r rules
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return r
}

func ruleQueries(t *testing.T) []query {
	var qs []query
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	return qs
}

// markdownAnchors returns the GitHub anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	sc := bufio.NewScanner(f)
	inCode := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ' || r == '-':
				b.WriteRune('-')
			case r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// TestAlertRules checks the rules file's shape: unique alert names, a
// severity, a summary, a `for` that parses, balanced expressions, and a
// runbook section that exists in docs/operations.md.
func TestAlertRules(t *testing.T) {
	r := readRules(t)
	anchors := markdownAnchors(t, repoRoot+"/docs/operations.md")
	seen := map[string]bool{}
	n := 0
	for _, g := range r.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("rule group %q is unnamed or empty", g.Name)
		}
		for _, rule := range g.Rules {
			n++
			if rule.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules: add them to the test)", g.Name)
				continue
			}
			if seen[rule.Alert] {
				t.Errorf("alert %s defined twice", rule.Alert)
			}
			seen[rule.Alert] = true
			if !balanced(rule.Expr) || strings.TrimSpace(rule.Expr) == "" {
				t.Errorf("alert %s: unbalanced or empty expression %q", rule.Alert, rule.Expr)
			}
			if rule.For != "" {
				if _, err := time.ParseDuration(rule.For); err != nil {
					t.Errorf("alert %s: for %q: %v", rule.Alert, rule.For, err)
				}
			}
			switch rule.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("alert %s: severity %q; want critical, warning or info", rule.Alert, rule.Labels["severity"])
			}
			if rule.Annotations["summary"] == "" {
				t.Errorf("alert %s: no summary", rule.Alert)
			}
			doc, anchor, ok := strings.Cut(rule.Annotations["runbook"], "#")
			if !ok || doc != "docs/operations.md" || !anchors[anchor] {
				t.Errorf("alert %s: runbook %q is not a section of docs/operations.md", rule.Alert, rule.Annotations["runbook"])
			}
			for _, m := range metricNames(rule.Expr) {
				if !strings.HasPrefix(m, "ovation_") {
					t.Errorf("alert %s queries %q, which is neither a PromQL function nor an ovation_ metric", rule.Alert, m)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("%d alerts; the runbook covers more failure modes than that", n)
	}
}

// TestDashboardJSON checks the dashboard's shape and that it shows what
// the issue lists: connections, frames out, delivery latency, ingest rate
// and rejections by reason, transaction commits and aborts, consumer lag,
// sink rows and lag, resume outcomes.
func TestDashboardJSON(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" {
		t.Error("dashboard: the first variable must choose the Prometheus datasource")
	}
	ids := map[int]bool{}
	type rect struct{ x, y, w, h int }
	var rects []rect
	var names []string
	all := allPanels(d.Panels)
	for _, p := range all {
		if ids[p.ID] {
			t.Errorf("panel id %d repeated", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for _, r := range rects {
			if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
				t.Errorf("panel %q overlaps another at %+v", p.Title, g)
			}
		}
		rects = append(rects, rect{g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the ${datasource} variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q empty or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if !balanced(tg.Expr) {
				t.Errorf("panel %q: unbalanced expression %q", p.Title, tg.Expr)
			}
			for _, m := range metricNames(tg.Expr) {
				if !strings.HasPrefix(m, "ovation_") {
					t.Errorf("panel %q queries %q, which is neither a PromQL function nor an ovation_ metric", p.Title, m)
				}
				names = append(names, m)
			}
		}
	}
	exprs := ""
	for _, q := range dashboardQueries(t) {
		exprs += q.expr + "\n"
	}
	for _, want := range []string{
		"ovation_push_connections", "ovation_push_frames_out_total", "ovation_push_delivery_latency_seconds_bucket",
		"ovation_ingest_events_accepted_total", "sum by (reason) (rate(ovation_ingest_events_rejected_total",
		"sum by (result) (rate(ovation_processor_transactions_total", "ovation_processor_consumer_lag_records",
		"ovation_analytics_rows_written_total", "ovation_analytics_pending_rows", "sum by (outcome) (rate(ovation_push_resumes_total",
	} {
		if !strings.Contains(exprs, want) {
			t.Errorf("the dashboard has no query with %q", want)
		}
	}
}
