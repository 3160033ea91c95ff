package pushers

// The adversarial suite of the socket side (issue 13): each case is what
// an attacker or a broken client does, with the exact outcome a user would
// check and, for the costly ones, a bound on time or memory.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/ovation-live/ovation/internal/auth"
	"github.com/ovation-live/ovation/internal/ratelog"
	"github.com/ovation-live/ovation/schemas"
)

// tokenAt signs an HS256 token for user that expires at exp (whole
// seconds, as JWT has them).
func tokenAt(t testing.TB, user string, exp time.Time, rooms map[string][]schemas.Capability) string {
	t.Helper()
	tok, err := auth.Sign(testSecret, "", &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: user, ExpiresAt: jwt.NewNumericDate(exp)},
		Rooms:            rooms,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func subRooms(rooms ...string) map[string][]schemas.Capability {
	m := map[string][]schemas.Capability{}
	for _, r := range rooms {
		m[r] = []schemas.Capability{schemas.CapSubscribe}
	}
	return m
}

// ticker commits a frame for each room every interval until the test
// ends.
func ticker(t *testing.T, p *fakeProc, interval time.Duration, rooms ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			d := map[string]*schemas.Delta{}
			for _, r := range rooms {
				d[r] = randomDelta(i, 0, 0)
			}
			if err := p.tick(ctx, d); err != nil && ctx.Err() == nil {
				t.Errorf("tick: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func (c *tclient) frames(room string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rooms[room]; r != nil {
		return r.frames
	}
	return 0
}

// TestTokenExpiryOnOpenSocket: a socket whose token expires is closed with
// 4002 within leeway + 1 s of exp, after a refresh hint; a socket that
// answers the hint with a newer token stays open and keeps receiving
// frames.
func TestTokenExpiryOnOpenSocket(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	p := newProc(t, brokers, topics)
	const leeway = 500 * time.Millisecond
	s := startServer(t, brokers, topics, func(c *Config) { c.TokenLeeway, c.RefreshBefore = leeway, time.Second })
	ticker(t, p, 50*time.Millisecond, "live")

	exp := time.Now().Add(3500 * time.Millisecond).Truncate(time.Second)
	rooms := subRooms("live")
	expiring, _, err := dialClient(s.url, tokenAt(t, "eve", exp, rooms), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer expiring.close()
	refreshing, _, err := dialClient(s.url, tokenAt(t, "rita", exp, rooms), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer refreshing.close()
	newExp := exp.Add(time.Hour)
	go func() {
		for h := range refreshing.hintCh {
			_ = h
			refreshing.send(map[string]any{"op": "refresh", "id": "r1", "token": tokenAt(t, "rita", newExp, rooms)})
		}
	}()
	for _, c := range []*tclient{expiring, refreshing} {
		c.subscribe("live")
		c.waitFor(t, 5*time.Second, "frames", func(c *tclient) bool { r := c.rooms["live"]; return r != nil && r.frames > 0 })
	}

	code, text := expiring.waitClosed(t, time.Until(exp)+leeway+5*time.Second)
	expiring.mu.Lock()
	late := expiring.closedAt.Sub(exp)
	hints := append([]inMsg(nil), expiring.hints...)
	expiring.mu.Unlock()
	if code != CloseTokenExpired {
		t.Fatalf("expiring socket closed with %d %q, want %d", code, text, CloseTokenExpired)
	}
	if late < leeway-50*time.Millisecond || late > leeway+time.Second {
		t.Fatalf("closed %v after exp; want within [leeway %v, leeway + 1s]", late, leeway)
	}
	if len(hints) != 1 || hints[0].Exp != exp.Unix() || hints[0].CloseAt != exp.Add(leeway).UnixMilli() {
		t.Fatalf("hints = %+v, want one with exp %d and close_at %d", hints, exp.Unix(), exp.Add(leeway).UnixMilli())
	}
	t.Logf("expired socket closed %v after exp (leeway %v)", late.Round(time.Millisecond), leeway)

	// The refreshed socket outlives the old deadline by a margin and is
	// still fed.
	n := refreshing.frames("live")
	time.Sleep(time.Second)
	refreshing.waitFor(t, 5*time.Second, "frames after the old deadline", func(c *tclient) bool {
		return c.rooms["live"] != nil && c.rooms["live"].frames >= n+5 && c.closeCode == 0
	})
	refreshing.mu.Lock()
	defer refreshing.mu.Unlock()
	if len(refreshing.refreshed) != 1 || refreshing.refreshed[0].Exp != newExp.Unix() || refreshing.refreshed[0].ID != "r1" {
		t.Fatalf("refreshed replies = %+v, want one for r1 with exp %d", refreshing.refreshed, newExp.Unix())
	}
	if len(refreshing.violations) > 0 || len(refreshing.errors) > 0 {
		t.Fatalf("refreshing socket: violations %v, errors %v", refreshing.violations, refreshing.errors)
	}
}

// rsaKey returns an RSA key and its public half as PEM.
func rsaKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestTokenRefreshRefusals: a refresh with a forged, alg-none,
// alg-confused, expired, other-user or older token is refused with its
// code and changes nothing: the socket still closes with 4002 at the old
// deadline, its subscription intact until then.
func TestTokenRefreshRefusals(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	p := newProc(t, brokers, topics)
	key, pubPEM := rsaKey(t)
	other, _ := rsaKey(t)
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}, PublicKeys: map[string]crypto.PublicKey{"rs": &key.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	const leeway = 300 * time.Millisecond
	s := startServer(t, brokers, topics, func(c *Config) { c.Verifier, c.TokenLeeway, c.RefreshBefore = v, leeway, time.Second })
	ticker(t, p, 50*time.Millisecond, "a")

	exp := time.Now().Add(4 * time.Second).Truncate(time.Second)
	later := exp.Add(time.Hour)
	rooms := subRooms("a")
	c, _, err := dialClient(s.url, tokenAt(t, "alice", exp, rooms), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.subscribe("a")
	c.waitFor(t, 5*time.Second, "frames", func(c *tclient) bool { r := c.rooms["a"]; return r != nil && r.frames > 0 })

	good := tokenAt(t, "alice", later, rooms)
	claims := fmt.Sprintf(`{"sub":"alice","exp":%d,"rooms":{"*":["host"]}}`, later.Unix())
	signRS := func(k *rsa.PrivateKey, kid string) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "alice", "exp": later.Unix(), "rooms": map[string]any{"*": []string{"host"}}})
		tk.Header["kid"] = kid
		sgn, err := tk.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return sgn
	}
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": later.Unix(), "rooms": map[string]any{"*": []string{"host"}}})
	confused.Header["kid"] = "rs"
	confusedTok, err := confused.SignedString(pubPEM) // the public key as an HMAC secret
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, token, code string }{
		{"forged signature", good[:len(good)-4] + "AAAA", CodeInvalidToken},
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(claims) + ".", CodeInvalidToken},
		{"alg confusion (HS256 with the RSA public key)", confusedTok, CodeInvalidToken},
		{"RS256 by another key", signRS(other, "rs"), CodeInvalidToken},
		{"garbage", "not.a.jwt", CodeInvalidToken},
		{"expired", tokenAt(t, "alice", time.Now().Add(-time.Hour), rooms), CodeTokenExpired},
		{"another user", tokenAt(t, "mallory", later, rooms), CodeTokenWrongUser},
		{"older", tokenAt(t, "alice", exp.Add(-time.Second), rooms), CodeTokenNotNewer},
		{"same exp", tokenAt(t, "alice", exp, rooms), CodeTokenNotNewer},
		{"missing", "", CodeBadRequest},
	}
	for i, tc := range cases {
		c.send(map[string]any{"op": "refresh", "id": fmt.Sprint("x", i), "token": tc.token})
	}
	c.waitFor(t, 5*time.Second, "every refusal", func(c *tclient) bool { return len(c.errors) == len(cases) })
	c.mu.Lock()
	for i, tc := range cases {
		e := c.errors[i]
		if e["id"] != fmt.Sprint("x", i) || e["code"] != tc.code || e["field"] != "token" {
			t.Errorf("%s: error %v, want code %s field token", tc.name, e, tc.code)
		}
	}
	if len(c.refreshed) != 0 {
		t.Errorf("a refused refresh answered refreshed: %+v", c.refreshed)
	}
	c.mu.Unlock()

	// Nothing changed: the old deadline holds.
	code, _ := c.waitClosed(t, time.Until(exp)+leeway+5*time.Second)
	c.mu.Lock()
	late := c.closedAt.Sub(exp)
	c.mu.Unlock()
	if code != CloseTokenExpired || late < leeway-50*time.Millisecond || late > leeway+time.Second {
		t.Fatalf("after refused refreshes: close %d %v after exp; want 4002 within [leeway, leeway+1s]", code, late)
	}
}

// TestTokenRefreshShrinksCapabilities: a refresh whose token no longer
// grants a room ends that subscription with unsubscribed{code: forbidden}
// before the refreshed reply; no frame of it follows; other rooms flow.
func TestTokenRefreshShrinksCapabilities(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	p := newProc(t, brokers, topics)
	s := startServer(t, brokers, topics, nil)
	ticker(t, p, 30*time.Millisecond, "keep", "drop")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	c, _, err := dialClient(s.url, tokenAt(t, "alice", exp, subRooms("keep", "drop")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.subscribe("keep")
	c.subscribe("drop")
	c.waitFor(t, 5*time.Second, "frames of both", func(c *tclient) bool {
		return c.rooms["keep"] != nil && c.rooms["keep"].frames > 0 && c.rooms["drop"] != nil && c.rooms["drop"].frames > 0
	})
	c.send(map[string]any{"op": "refresh", "id": "r", "token": tokenAt(t, "alice", exp.Add(time.Hour), subRooms("keep"))})
	c.waitFor(t, 5*time.Second, "refreshed", func(c *tclient) bool { return len(c.refreshed) == 1 })
	c.mu.Lock()
	if len(c.revoked) != 1 || c.revoked[0].Room != "drop" || c.revoked[0].Code != CodeForbidden || c.revoked[0].ID != "" {
		t.Fatalf("revoked = %+v, want one unsubscribed for drop with code forbidden", c.revoked)
	}
	if _, ok := c.rooms["drop"]; ok {
		t.Fatal("drop still subscribed")
	}
	c.mu.Unlock()
	n := c.frames("keep")
	c.waitFor(t, 5*time.Second, "keep flows", func(c *tclient) bool { return c.rooms["keep"].frames >= n+5 })
	// The test client flags any frame of an unsubscribed room as a
	// violation; subscribing again is refused.
	c.send(map[string]any{"op": "subscribe", "id": "again", "room": "drop"})
	c.waitFor(t, 5*time.Second, "forbidden", func(c *tclient) bool { return len(c.errors) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errors[0]["code"] != CodeForbidden || len(c.violations) > 0 {
		t.Fatalf("resubscribe: %v, violations %v", c.errors, c.violations)
	}
}

// TestResumeAhead: a resume position ahead of the room is answered with a
// snapshot (recovered:false) within AheadWait + 1.5 s — for a live room,
// for a room known only by its snapshot, and for a room with no history —
// while a position only slightly ahead (the client came from a pusher
// that read further) recovers as soon as the room gets there.
func TestResumeAhead(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	ctx := context.Background()
	p := newProc(t, brokers, topics)
	// "old" has frames only older than the window: this pusher knows it
	// by its snapshot alone.
	for i := 0; i < 3; i++ {
		if err := p.tick(ctx, map[string]*schemas.Delta{"old": randomDelta(i, 0, 0), "live": randomDelta(i, 0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1200 * time.Millisecond)
	const wait = 500 * time.Millisecond
	s := startServer(t, brokers, topics, func(c *Config) { c.Window, c.AheadWait = time.Second, wait })
	tok := allRooms(t, "alice")
	liveEpoch, _, _ := p.room("live")
	oldEpoch, oldSeq, oldState := p.room("old")

	check := func(name, room, epoch string, seq uint64, st schemas.RoomState, wantRecovered bool, after func()) *tclient {
		t.Helper()
		c, _, err := dialClient(s.url, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		start := time.Now()
		c.resume(room, epoch, seq, st)
		if after != nil {
			after()
		}
		c.waitFor(t, wait+1500*time.Millisecond, name+": answered", func(c *tclient) bool { r := c.rooms[room]; return r != nil && (r.recovered > 0 || r.resets > 0) })
		c.mu.Lock()
		defer c.mu.Unlock()
		r := c.rooms[room]
		if got := r.recovered > 0; got != wantRecovered || len(c.violations) > 0 {
			t.Fatalf("%s: recovered %v, want %v (violations %v)", name, got, wantRecovered, c.violations)
		}
		t.Logf("%s: answered recovered=%v in %v", name, wantRecovered, time.Since(start).Round(time.Millisecond))
		return c
	}
	// Far ahead of a live room: a snapshot, then live frames.
	ticker(t, p, 100*time.Millisecond, "live")
	c := check("live room, seq 1,000,000", "live", liveEpoch, 1_000_000, schemas.NewRoomState(), false, nil)
	n := c.frames("live")
	c.waitFor(t, 5*time.Second, "live frames after the reset", func(c *tclient) bool { return c.rooms["live"].frames >= n+3 })

	// Ahead of the snapshot of a room with no frames in the window.
	check("snapshot-only room, seq ahead", "old", oldEpoch, oldSeq+5, oldState, false, nil)
	// Exactly at that snapshot: recovered at once.
	check("snapshot-only room, at its seq", "old", oldEpoch, oldSeq, oldState, true, nil)
	// A room with no history at all.
	check("unknown room, seq ahead", "void", "e-none", 7, schemas.NewRoomState(), false, nil)

	// Slightly ahead: the frames come, the resume recovers.
	for i := 0; i < 2; i++ {
		p.tick(ctx, map[string]*schemas.Delta{"slow": randomDelta(i, 0, 0)})
	}
	epoch, seq, st := p.room("slow")
	c2, _, err := dialClient(s.url, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.close()
	c2.waitFor(t, 5*time.Second, "welcome", func(c *tclient) bool { return c.welcome != nil })
	// The client claims seq+1 (a pusher further along gave it frame
	// seq+1); this one gets there when the processor commits it.
	next := randomDelta(2, 0, 0)
	st2 := st.Clone()
	st2.Apply(next)
	c2.resume("slow", epoch, seq+1, st2)
	time.Sleep(wait / 2)
	if err := p.tick(ctx, map[string]*schemas.Delta{"slow": next}); err != nil {
		t.Fatal(err)
	}
	p.tick(ctx, map[string]*schemas.Delta{"slow": randomDelta(3, 0, 0)})
	c2.waitFor(t, wait+1500*time.Millisecond, "slightly ahead: recovered, then frame seq+2", func(c *tclient) bool {
		r := c.rooms["slow"]
		return r != nil && r.recovered == 1 && r.seq == seq+2
	})
	_, _, want := p.room("slow")
	c2.mu.Lock()
	defer c2.mu.Unlock()
	if r := c2.rooms["slow"]; r.resets != 0 || len(c2.violations) > 0 || stateJSON(r.state) != stateJSON(want) {
		t.Fatalf("slightly ahead: resets %d, violations %v", r.resets, c2.violations)
	}
}

// TestOriginVariants: Origin must be the request's own origin or an
// allowed one, scheme, host and port exactly.
func TestOriginVariants(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	s := startServer(t, brokers, topics, func(c *Config) { c.AllowedOrigins = []string{"https://app.example"} })
	host := strings.TrimPrefix(strings.TrimSuffix(s.url, "/v1/stream"), "ws://")
	tok := allRooms(t, "alice")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true},
		{"HTTP://" + strings.ToUpper(host), true},
		{"https://app.example", true},
		{"https://app.example:443", true},
		{"ftp://" + host, false},
		{"http://user@" + host, false},
		{"https://" + host, false},
		{"http://" + host + "/path", false},
		{"http://" + strings.Split(host, ":")[0] + ":1", false},
		{"http://app.example", false},
		{"https://app.example.evil", false},
		{"null", false},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		c, _, err := dialClient(s.url, tok, hdr)
		if err != nil {
			t.Fatalf("%q: dial: %v", tc.origin, err)
		}
		if tc.ok {
			c.waitFor(t, 5*time.Second, "welcome for "+tc.origin, func(c *tclient) bool { return c.welcome != nil })
			c.close()
			continue
		}
		if code, _ := c.waitClosed(t, 5*time.Second); code != CloseForbiddenOrigin {
			t.Fatalf("Origin %q: close %d, want %d", tc.origin, code, CloseForbiddenOrigin)
		}
	}
}

// TestInvalidUTF8 closes 1007 (RFC 6455 §8.1) instead of reading the text
// with U+FFFD; a valid message before it was served.
func TestInvalidUTF8(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	s := startServer(t, brokers, topics, nil)
	for _, bad := range [][]byte{
		[]byte("{\"op\":\"ping\",\"id\":\"\xff\"}"),
		[]byte("{\"op\":\"ping\",\"id\":\"\xed\xa0\x80\"}"), // a UTF-16 surrogate
		[]byte("{\"op\":\"ping\",\"id\":\"\xc0\xaf\"}"),     // overlong '/'
	} {
		c, _, err := dialClient(s.url, allRooms(t, "alice"), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`{"op":"ping","id":"ok"}`)
		c.ws.WriteMessage(websocket.TextMessage, bad)
		code, _ := c.waitClosed(t, 5*time.Second)
		c.mu.Lock()
		pongs := c.pongs
		c.mu.Unlock()
		if code != websocket.CloseInvalidFramePayloadData || pongs != 1 {
			t.Fatalf("%q: close %d after %d pongs, want 1007 after 1", bad, code, pongs)
		}
	}
}

// TestNestedFlood: 1,000 client messages of 32 KB built to cost a decoder
// far more than their bytes (deep arrays, deep objects, wide arrays of
// numbers and strings), 200 connections at a time, are refused by the
// structure check before any decode: each connection closes 4400 naming
// the problem, the pusher's heap and stacks grow by less than 16 MB at
// their peak, and it takes under 30 s. Measured: 2 MB and 1 s (5 MB and
// 3 s with -race); without the check the same run grew 40 MB and took 52 s.
func TestNestedFlood(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	const size = 32 << 10
	s := startServer(t, brokers, topics, func(c *Config) { c.MaxMessageBytes = size + 1024; c.MaxConnsPerUser = -1 })
	// Each body is a well-formed JSON object of just under 32 KB.
	wrap := func(open, mid, close string, n int) []byte {
		return []byte(`{"op":"ping","x":` + strings.Repeat(open, n) + mid + strings.Repeat(close, n) + `}`)
	}
	bodies := [][]byte{
		wrap("[", "", "]", (size-32)/2),                                            // [[[[…]]]]
		wrap(`{"a":`, "1", "}", (size-32)/6),                                       // {"a":{"a":…}}
		[]byte(`{"op":"ping","x":[` + strings.Repeat("1,", (size-32)/2) + `1]}`),   // 16k numbers
		[]byte(`{"op":"ping","x":[` + strings.Repeat(`"",`, (size-32)/3) + `""]}`), // 10k strings
	}
	for _, b := range bodies {
		if len(b) > size || !json.Valid(b) {
			t.Fatalf("test body of %d bytes is over %d or invalid", len(b), size)
		}
	}
	tok := allRooms(t, "mallory")

	var peak atomic.Uint64
	sample := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse
	}
	// Collect garbage eagerly while measuring, so the peak is what the
	// pusher holds, not what the collector has not yet swept.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := sample()
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if v := sample(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	const total, parallel = 1000, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := map[string]int{}
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < total; i += parallel {
				c, _, err := dialClient(s.url, tok, nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				c.ws.WriteMessage(websocket.TextMessage, bodies[i%len(bodies)])
				code, text := 0, "not closed within 10 s"
				select {
				case <-c.done:
					c.mu.Lock()
					code, text = c.closeCode, c.closeText
					c.mu.Unlock()
				case <-time.After(10 * time.Second):
					c.ws.Close()
				}
				if code != CloseBadMessage || !strings.HasPrefix(text, "bad message: ") {
					mu.Lock()
					bad[fmt.Sprintf("%d %q", code, text)]++
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	sampler.Wait()
	grew := int64(peak.Load()) - int64(base)
	t.Logf("%d messages of %d KB: %v, peak heap+stack growth %.1f MB", total, size>>10, took.Round(time.Millisecond), float64(grew)/(1<<20))
	if len(bad) > 0 {
		t.Fatalf("unexpected closes: %v", bad)
	}
	if grew > 16<<20 {
		t.Fatalf("pusher grew %.1f MB at its peak; the bound is 16 MB", float64(grew)/(1<<20))
	}
	if took > 30*time.Second {
		t.Fatalf("took %v; the bound is 30 s", took)
	}
}

// logBuf is a concurrency-safe log sink for tests that read the log.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestConnectTokenAttacks: tokens an attacker crafts are refused at the
// upgrade with 4001 (never a shortcut around the signature), each refusal
// is logged once with its fields cut to 128 bytes, and a flood of them
// logs a handful of lines, not one per attempt.
func TestConnectTokenAttacks(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	key, pubPEM := rsaKey(t)
	other, _ := rsaKey(t)
	v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}, PublicKeys: map[string]crypto.PublicKey{"rs": &key.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuf
	s := startServer(t, brokers, topics, func(c *Config) {
		c.Verifier = v
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	exp := time.Now().Add(time.Hour).Unix()
	claims := map[string]any{"sub": "mallory", "exp": exp, "rooms": map[string]any{"*": []string{"host"}}}
	hs := func(kid string, secret []byte) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
		if kid != "" {
			tk.Header["kid"] = kid
		}
		sgn, err := tk.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return sgn
	}
	rs := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
	rs.Header["kid"] = "rs"
	byOther, err := rs.SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	cj, _ := json.Marshal(claims)
	hugeKid := strings.Repeat("k", 100<<10)
	cases := []struct{ name, token string }{
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(string(cj)) + "."},
		{"alg none, signature kept", b64(`{"alg":"none"}`) + "." + b64(string(cj)) + "." + strings.Split(hs("", testSecret), ".")[2]},
		{"alg confusion: HS256 with the RSA public key", hs("rs", pubPEM)},
		{"RS256 by another key", byOther},
		{"unknown kid", hs("nope", testSecret)},
		{"100 KB kid", hs(hugeKid, testSecret)},
		{"HS512", func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims(claims))
			sgn, _ := tk.SignedString(testSecret)
			return sgn
		}()},
	}
	for _, tc := range cases {
		c, _, err := dialClient(s.url+"?token="+tc.token, "", nil)
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		if code, _ := c.waitClosed(t, 5*time.Second); code != CloseUnauthorized {
			t.Fatalf("%s: close %d, want %d", tc.name, code, CloseUnauthorized)
		}
	}
	// A flood of the 100 KB-kid token: the log stays small.
	start := time.Now()
	const flood = 300
	for i := 0; i < flood; i++ {
		c, _, err := dialClient(s.url+"?token="+cases[5].token, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.waitClosed(t, 5*time.Second)
	}
	took := time.Since(start)
	var refusals, suppressedNoted, longest int
	for _, l := range logs.lines() {
		if strings.Contains(l, "websocket refused") {
			refusals++
			longest = max(longest, len(l))
			if strings.Contains(l, "suppressed_before=") {
				suppressedNoted++
			}
		}
	}
	// Burst 20, then 5/s.
	limit := ratelog.Burst + int(took.Seconds()*ratelog.Rate) + 2
	t.Logf("%d refused connections in %v: %d log lines, longest %d bytes", len(cases)+flood, took.Round(time.Millisecond), refusals, longest)
	if refusals > limit || refusals < len(cases) {
		t.Fatalf("%d refusal lines for %d refusals; want between %d and %d", refusals, len(cases)+flood, len(cases), limit)
	}
	if longest > 600 {
		t.Fatalf("a refusal line is %d bytes; fields are cut to %d", longest, ratelog.MaxField)
	}
	if refusals < len(cases)+flood && suppressedNoted == 0 && took > time.Second {
		t.Fatal("lines were suppressed but no later line says how many")
	}
}

// TestRefreshFlood: refresh ops are client messages like any other: a
// flood of them (forged tokens) is cut by the inbound limit (close 4008)
// after the burst, and logged a handful of times.
func TestRefreshFlood(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	var logs logBuf
	s := startServer(t, brokers, topics, func(c *Config) {
		c.InboundRate, c.InboundBurst = 20, 40
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	c, _, err := dialClient(s.url, allRooms(t, "mallory"), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := allRooms(t, "mallory")
	forged = forged[:len(forged)-4] + "AAAA"
	for i := 0; i < 200; i++ {
		c.send(map[string]any{"op": "refresh", "id": fmt.Sprint(i), "token": forged})
	}
	code, _ := c.waitClosed(t, 5*time.Second)
	c.mu.Lock()
	n := len(c.errors)
	c.mu.Unlock()
	if code != CloseRateLimited || n < 40 || n > 45 {
		t.Fatalf("close %d after %d refused refreshes; want 4008 after the burst of 40", code, n)
	}
	lines := 0
	for _, l := range logs.lines() {
		if strings.Contains(l, "refresh refused") {
			lines++
		}
	}
	if lines > ratelog.Burst+5 {
		t.Fatalf("%d log lines for %d refused refreshes", lines, n)
	}
}

// TestTokenExpiryMany: 1,000 sockets whose tokens end in the same second
// are all closed with 4002 within leeway + 1 s, and keeping their
// deadlines costs no goroutine per socket (the wheel, not timers).
func TestTokenExpiryMany(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	const n = 1000
	const leeway = 500 * time.Millisecond
	s := startServer(t, brokers, topics, func(c *Config) {
		c.TokenLeeway, c.RefreshBefore, c.MaxConnsPerUser = leeway, time.Second, -1
	})
	exp := time.Now().Add(6 * time.Second).Truncate(time.Second)
	tok := tokenAt(t, "many", exp, subRooms("r"))
	before := runtime.NumGoroutine()
	conns := make([]*tclient, n)
	for i := range conns {
		c, _, err := dialClient(s.url, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.waitFor(t, 10*time.Second, "welcome", func(c *tclient) bool { return c.welcome != nil })
	}
	// Each socket costs two goroutines here: the server's reader and the
	// test client's reader. Anything per-socket beyond that would show.
	if g := runtime.NumGoroutine() - before; g > 2*n+50 {
		t.Fatalf("%d goroutines for %d sockets", g, n)
	}
	if time.Now().After(exp) {
		t.Skip("connecting took longer than the token's life on this machine")
	}
	var worst time.Duration
	for _, c := range conns {
		code, _ := c.waitClosed(t, time.Until(exp)+leeway+10*time.Second)
		c.mu.Lock()
		late, hints := c.closedAt.Sub(exp), len(c.hints)
		c.mu.Unlock()
		if code != CloseTokenExpired || hints != 1 {
			t.Fatalf("close %d after %d hints, want 4002 after 1", code, hints)
		}
		worst = max(worst, late)
		if late < leeway-50*time.Millisecond || late > leeway+time.Second {
			t.Fatalf("a socket closed %v after exp; want within [leeway %v, leeway + 1s]", late, leeway)
		}
	}
	t.Logf("%d sockets closed with 4002 at most %v after exp (leeway %v)", n, worst.Round(time.Millisecond), leeway)
}

func (w *wheel) entries() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.slots {
		n += len(m)
	}
	return n
}

// TestWheelBoundedByOpenSockets: the deadline wheel holds one entry per
// open socket with a token: refreshes move it, closes remove it.
func TestWheelBoundedByOpenSockets(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	s := startServer(t, brokers, topics, func(c *Config) { c.MaxConnsPerUser = -1 })
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	var conns []*tclient
	for i := 0; i < 100; i++ {
		c, _, err := dialClient(s.url, tokenAt(t, "w", exp, subRooms("r")), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, 5*time.Second, "welcome", func(c *tclient) bool { return c.welcome != nil })
		conns = append(conns, c)
	}
	if n := s.tokens.entries(); n != 100 {
		t.Fatalf("wheel holds %d entries for 100 sockets", n)
	}
	for i := 1; i <= 10; i++ {
		conns[0].send(map[string]any{"op": "refresh", "id": fmt.Sprint(i), "token": tokenAt(t, "w", exp.Add(time.Duration(i)*time.Minute), subRooms("r"))})
	}
	conns[0].waitFor(t, 5*time.Second, "10 refreshes", func(c *tclient) bool { return len(c.refreshed) == 10 })
	if n := s.tokens.entries(); n != 100 {
		t.Fatalf("wheel holds %d entries after 10 refreshes of one socket; want 100", n)
	}
	for _, c := range conns {
		c.close()
	}
	for deadline := time.Now().Add(5 * time.Second); s.tokens.entries() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("wheel holds %d entries after every socket closed", s.tokens.entries())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWheelDue: a connection comes due in the first sweep at or after its
// time, exactly once, whether sweeps are regular or stalled; rescheduling
// moves it; times already past come due at the next sweep.
func TestWheelDue(t *testing.T) {
	w := newWheel()
	t0 := time.Unix(1_800_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	a, b, c, d := &Conn{}, &Conn{}, &Conn{}, &Conn{}
	w.due(at(0)) // first sweep fixes the start
	w.schedule(a, at(250))
	w.schedule(b, at(300))
	w.schedule(c, at(5_000))
	w.schedule(d, at(400))
	w.schedule(d, at(60_000)) // moved
	got := func(now int) []*Conn { return w.due(at(now)) }
	if r := got(200); len(r) != 0 {
		t.Fatalf("due at 200: %d", len(r))
	}
	if r := got(300); len(r) != 2 {
		t.Fatalf("due at 300: %d, want a and b", len(r))
	}
	if r := got(400); len(r) != 0 {
		t.Fatalf("due at 400: %d (d was moved)", len(r))
	}
	w.schedule(a, at(100)) // already past: the next slot swept
	if r := got(500); len(r) != 1 || r[0] != a {
		t.Fatalf("past time: %v", r)
	}
	// A stall of 100 s: c and d come due in one sweep.
	if r := got(100_000); len(r) != 2 {
		t.Fatalf("after a stall: %d, want c and d", len(r))
	}
	if w.entries() != 0 || len(w.slots) != 0 {
		t.Fatalf("wheel not empty: %d", w.entries())
	}
}

// TestRefreshAuthOff: with auth off nothing expires: refresh answers
// refreshed without exp and changes nothing; no hint is ever sent.
func TestRefreshAuthOff(t *testing.T) {
	brokers, topics := testKafka(t, 1)
	v, err := newDisabledVerifier()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, brokers, topics, func(c *Config) { c.Verifier, c.RefreshBefore = v, time.Millisecond })
	c, _, err := dialClient(s.url+"?user=dave", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.send(map[string]any{"op": "refresh", "id": "1", "token": "anything"})
	c.waitFor(t, 5*time.Second, "refreshed", func(c *tclient) bool { return len(c.refreshed) == 1 })
	time.Sleep(300 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.refreshed[0]; r.ID != "1" || r.Exp != 0 || len(c.hints) != 0 || c.welcome["user"] != "dave" || s.tokens.entries() != 0 {
		t.Fatalf("refreshed %+v, hints %d, welcome %v, wheel %d", r, len(c.hints), c.welcome, s.tokens.entries())
	}
}
