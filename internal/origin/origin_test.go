package origin

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestAllowed(t *testing.T) {
	p, err := New([]string{"https://app.example.com", "http://localhost:5173/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host, origin, proto string
		tls                       bool
		want                      bool
	}{
		{"no origin", "live.example.com", "", "", false, true},
		{"same origin", "live.example.com", "http://live.example.com", "", false, true},
		{"same origin, host case", "Live.Example.com", "http://live.EXAMPLE.com", "", false, true},
		{"same origin, default port spelled", "live.example.com", "http://live.example.com:80", "", false, true},
		{"same origin, port", "127.0.0.1:8080", "http://127.0.0.1:8080", "", false, true},
		{"same origin, ipv6", "[::1]:8080", "http://[::1]:8080", "", false, true},
		{"same origin over TLS", "live.example.com", "https://live.example.com", "", true, true},
		{"same origin behind a TLS proxy", "live.example.com", "https://live.example.com", "https", false, true},
		{"https page, plain request", "live.example.com", "https://live.example.com", "", false, false},
		{"http page, TLS request", "live.example.com", "http://live.example.com", "", true, false},
		{"other port", "127.0.0.1:8080", "http://127.0.0.1:8081", "", false, false},
		{"port vs default", "127.0.0.1:8080", "http://127.0.0.1", "", false, false},
		{"ftp scheme", "live.example.com", "ftp://live.example.com", "", false, false},
		{"ws scheme", "live.example.com", "ws://live.example.com", "", false, false},
		{"user info", "live.example.com", "http://user@live.example.com", "", false, false},
		{"user and password", "live.example.com", "http://u:p@live.example.com", "", false, false},
		{"path", "live.example.com", "http://live.example.com/x", "", false, false},
		{"query", "live.example.com", "http://live.example.com?x", "", false, false},
		{"null", "live.example.com", "null", "", false, false},
		{"garbage", "live.example.com", "%%%", "", false, false},
		{"empty port", "live.example.com", "http://live.example.com:", "", false, false},
		{"bad port", "live.example.com", "http://live.example.com:99999", "", false, false},
		{"suffix host", "example.com", "http://evil-example.com", "", false, false},
		{"allowed", "live.example.com", "https://app.example.com", "", false, true},
		{"allowed, explicit port", "live.example.com", "https://app.example.com:443", "", false, true},
		{"allowed host, wrong scheme", "live.example.com", "http://app.example.com", "", false, false},
		{"allowed host, wrong port", "live.example.com", "https://app.example.com:8443", "", false, false},
		{"allowed with trailing slash in config", "live.example.com", "http://localhost:5173", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/stream", nil)
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := p.Allowed(r); got != tc.want {
				t.Fatalf("Allowed(Origin %q, Host %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
			}
		})
	}
}

func TestStarAllowsAll(t *testing.T) {
	p, err := New([]string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://anything.example")
	if !p.Allowed(r) {
		t.Fatal("* refused an origin")
	}
}

func TestNewRefusesBadEntries(t *testing.T) {
	for _, bad := range []string{"app.example.com", "ftp://x", "https://u@x", "https://x/path", "https://"} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%q) accepted it", bad)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"http://a", "https://A:443", "http://[::1]:1", "ftp://x", "http://u@x", "null", "http://x:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			return
		}
		// Canonical forms are fixed points.
		m, err := Normalize(n)
		if err != nil || m != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, m, err)
		}
	})
}
