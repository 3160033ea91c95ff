// Package origin decides whether a browser's Origin header may use an
// endpoint: the request's own origin, or one of an allow list, compared as
// scheme, host and port exactly (RFC 6454). Every role that checks Origin
// uses it, so a WebSocket upgrade and an HTTP publish agree.
//
// Only what a browser sends is accepted: "http" or "https", a host, an
// optional port, nothing else. "null", other schemes (ftp://host), user
// info (http://user@host), paths, queries and fragments are refused. Hosts
// compare case-insensitively; a missing port is the scheme's default, so
// http://host and http://host:80 are the same origin.
package origin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxLen bounds an Origin header or allow-list entry; longer ones are
// refused before parsing.
const maxLen = 512

// Policy is a parsed allow list. The zero Policy allows only same-origin
// requests and requests without an Origin header.
type Policy struct {
	any     bool
	allowed map[string]struct{}
}

// New parses an allow list of origins ("https://app.example.com",
// "http://localhost:5173"); "*" allows every origin.
func New(allowed []string) (*Policy, error) {
	p := &Policy{allowed: map[string]struct{}{}}
	for _, a := range allowed {
		if a == "*" {
			p.any = true
			continue
		}
		n, err := Normalize(strings.TrimSuffix(a, "/"))
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w (want scheme://host[:port] or *)", a, err)
		}
		p.allowed[n] = struct{}{}
	}
	return p, nil
}

// Allowed reports whether r may proceed: it has no Origin header (not a
// browser; it still needs a token), or its Origin equals the request's own
// origin or an allowed one. The request's own scheme is https when it came
// over TLS or a proxy says so in X-Forwarded-Proto (a page cannot set that
// header on a cross-site request without a preflight, and a non-browser
// client can send any Origin anyway).
func (p *Policy) Allowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if p != nil && p.any {
		return true
	}
	n, err := Normalize(o)
	if err != nil {
		return false
	}
	if p != nil {
		if _, ok := p.allowed[n]; ok {
			return true
		}
	}
	self, err := Normalize(RequestScheme(r) + "://" + r.Host)
	return err == nil && self == n
}

// RequestScheme is "https" when r came over TLS or through a proxy that
// says so (the first X-Forwarded-Proto value), else "http".
func RequestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		if i := strings.IndexByte(p, ','); i >= 0 {
			p = p[:i]
		}
		if strings.EqualFold(strings.TrimSpace(p), "https") {
			return "https"
		}
	}
	return "http"
}

// Normalize returns s as "scheme://host:port" with a lower-case host and
// an explicit port, or an error naming what makes s no browser origin.
func Normalize(s string) (string, error) {
	if len(s) > maxLen {
		return "", errors.New("longer than 512 bytes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	switch {
	case u.Opaque != "":
		return "", errors.New("not scheme://host")
	case u.User != nil:
		return "", errors.New("has user info")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("has a path, query or fragment")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not 1-65535", p)
		}
		port = strconv.Itoa(n)
	} else if strings.HasSuffix(u.Host, ":") {
		return "", errors.New("empty port")
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(host, port), nil
}
