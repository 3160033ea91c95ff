package analytics

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzQueryParams feeds arbitrary query strings to the API's parameter
// decoders: none may panic, every refusal is an *APIError naming a field,
// and what is accepted is within the documented bounds.
func FuzzQueryParams(f *testing.F) {
	for _, s := range []string{
		"from=1700000000000&to=1700000060000",
		"from=2024-01-01T00:00:00Z&to=2024-01-01T01:00:00.5Z",
		"before=1700000000000~evt-1", "before=~", "before=-1~x", "before=%2B1~a",
		"emoji=%F0%9F%91%8F", "emoji=:clap:", "emoji=';DROP TABLE x;--", "emoji=%FF",
		"from=99999999999999999999", "to=0", "from=+1", "from=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		check := func(err error) {
			if err == nil {
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Field == "" || ae.Status < 400 || ae.Status > 499 {
				t.Fatalf("refusal %v is not a 4xx *APIError naming its field", err)
			}
		}
		from, to, hasFrom, hasTo, err := parseRange(q)
		check(err)
		if err == nil {
			if hasFrom && (from < minTime || from >= maxTime) || hasTo && (to < minTime || to >= maxTime) {
				t.Fatalf("accepted out-of-range bounds %d..%d", from, to)
			}
			if hasFrom && hasTo && to <= from {
				t.Fatalf("accepted empty range %d..%d", from, to)
			}
		}
		ms, id, err := parseBefore(q.Get("before"))
		check(err)
		if err == nil && (ms < minTime || ms > maxTime || strings.ContainsAny(id, "'\"\\ ;")) {
			t.Fatalf("accepted cursor %d %q", ms, id)
		}
		if e := q.Get("emoji"); e != "" {
			if err := checkEmoji(e); err == nil && strings.ContainsAny(e, "'\"\\;` \n") {
				t.Fatalf("accepted emoji filter %q with metacharacters", e)
			} else {
				check(err)
			}
		}
	})
}
