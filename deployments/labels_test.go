package deployments

import (
	"bufio"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ovation-live/ovation/ingest"
)

// labelFacts is what a scrape says about label values: the values seen on
// each family's series, and each family's HELP text (which names the
// values of a closed set that may not have occurred yet).
type labelFacts struct {
	help   map[string]string
	values map[string]map[string]map[string]bool // family → label → value
}

var (
	seriesLine = regexp.MustCompile(`^([A-Za-z_:][A-Za-z0-9_:]*)\{(.*)\} `)
	labelPair  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	selector   = regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	plainAlt   = regexp.MustCompile(`^[A-Za-z0-9_.:-]+(\|[A-Za-z0-9_.:-]+)*$`)
)

func scrapeLabels(t *testing.T, base string) labelFacts {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f := labelFacts{help: map[string]string{}, values: map[string]map[string]map[string]bool{}}
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			f.help[name] = help
			continue
		}
		if fl := strings.Fields(line); len(fl) == 4 && fl[1] == "TYPE" {
			types[fl[2]] = fl[3]
			continue
		}
		m := seriesLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fam := m[1]
		if _, ok := types[fam]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(fam, suf); ok {
					fam = b
				}
			}
		}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			if f.values[fam] == nil {
				f.values[fam] = map[string]map[string]bool{}
			}
			if f.values[fam][p[1]] == nil {
				f.values[fam][p[1]] = map[string]bool{}
			}
			f.values[fam][p[1]][p[2]] = true
		}
	}
	return f
}

// knownValue reports whether value is a value label of family can take:
// seen on a series, named in the family's HELP text, or (for ingest's
// reason and result labels) one of ingest's error codes.
func (f labelFacts) knownValue(family, label, value string) bool {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(family, suf); ok && f.help[family] == "" {
			family = b
		}
	}
	if f.values[family][label][value] {
		return true
	}
	if regexp.MustCompile(`\b` + regexp.QuoteMeta(value) + `\b`).MatchString(f.help[family]) {
		return true
	}
	if strings.HasPrefix(family, "ovation_ingest_") && (label == "reason" || label == "result") {
		return slices.Contains(ingest.Codes, value)
	}
	return false
}

// checkLabelMatchers checks every label matcher of the queries against
// what the scrape knows: a label the family does not have, or a value it
// never takes, turns a selector into one that matches nothing (or, with
// != and !~, a filter that filters nothing), silently.
func checkLabelMatchers(t *testing.T, f labelFacts, queries []query) int {
	t.Helper()
	n := 0
	for _, q := range queries {
		expr := grafanaVar.ReplaceAllString(q.expr, " ")
		for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
			family := sel[1]
			for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
				label, op, value := m[1], m[2], m[3]
				if label == "le" {
					continue
				}
				base := family
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(family, suf); ok && f.values[family] == nil {
						base = b
					}
				}
				if f.values[base][label] == nil && !strings.Contains(f.help[base], label) {
					t.Errorf("%s: %s has no label %q (labels seen: %v)", q.where, family, label, keys(f.values[base]))
					continue
				}
				alts := []string{value}
				if op == "=~" || op == "!~" {
					if !plainAlt.MatchString(value) {
						continue // a real pattern: not checked
					}
					alts = strings.Split(value, "|")
				}
				for _, v := range alts {
					n++
					if !f.knownValue(base, label, v) {
						t.Errorf("%s: %s{%s%s%q}: %q is not a value of %s's %s label", q.where, family, label, op, value, v, family, label)
					}
				}
			}
		}
	}
	return n
}
