package ingest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/auth"
)

// chunkReader returns its bytes at most n at a time, as a socket may.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

// readEventsOf runs readEvents of s on body, read chunk bytes at a time.
func readEventsOf(s *Service, body []byte, chunk int) (string, string) {
	r := httptest.NewRequest(http.MethodPost, "/v1/rooms/r/events", &chunkReader{b: body, n: chunk})
	buf, bb := new(bytes.Buffer), s.getBatchBufs()
	raws, text, pe := s.readEvents(httptest.NewRecorder(), r, buf, bb)
	var got strings.Builder
	for _, e := range raws {
		got.WriteString(string(e.Text))
		if e.RepeatedKey {
			got.WriteString(" (repeated key)")
		}
		got.WriteByte('\n')
	}
	if pe != nil {
		return "", fmt.Sprintf("%d %s %s: %s", pe.Status, pe.Code, pe.Field, pe.Message)
	}
	return string(text) + "\n" + got.String(), ""
}

// FuzzLazyDepthWatch is the differential test of the deferred depth watch:
// a body read with the watch following it only past watchFrom (and, below
// that, only when the body is refused) gets exactly the answer it got
// with the watch following every byte as it was read: the same refusal
// (status, code, message with its byte offset) or the same events,
// whatever the body and however it arrives in pieces.
func FuzzLazyDepthWatch(f *testing.F) {
	deep := strings.Repeat("[", 20)
	big := `{"type":"chat.message","data":{"text":"` + strings.Repeat("a", 17000) + `"}}`
	for _, s := range []string{
		`[{"type":"chat.message","data":{"text":"hi"}}]`, deep, "  " + deep, "x" + deep, `[` + deep, `{"a":` + deep,
		`[{"a":tru` + deep, `[]` + deep, `[{}, {}, ` + deep, `{"a":"[[[[[[[[[[[[[["}`, `{"a":"\"[[[[[[[[[[[["}`,
		"", "   ", `[1,2,3]`, `[{"a":1,"a":2}]`, `{"a":[[[[[[[[]]]]]]]]}`, `{"a":[[[[[[[[[]]]]]]]]]}`,
		big, big[:17020] + deep, `[` + big + `,` + deep + `]`, `[` + big + `]`, `[` + big + `,{"x":tru` + deep,
	} {
		f.Add([]byte(s), uint16(4096))
		f.Add([]byte(s), uint16(7))
	}
	lazy := func(f *testing.F, cfg Config) *Service {
		cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(cl.Close)
		v, err := auth.NewVerifier(auth.Config{HMACSecrets: map[string][]byte{"": testSecret}})
		if err != nil {
			f.Fatal(err)
		}
		s, err := New(cfg, cl, v, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	var pairs [][2]*Service
	for _, cfg := range []Config{{}, {MaxRequestBytes: 20000, MaxBatchEvents: 2}} {
		a, b := lazy(f, cfg), lazy(f, cfg)
		b.watchFrom = 0 // the eager watch, as before
		pairs = append(pairs, [2]*Service{a, b})
	}
	f.Fuzz(func(t *testing.T, body []byte, chunk uint16) {
		n := int(chunk)%8192 + 1
		for _, p := range pairs {
			gotOK, gotErr := readEventsOf(p[0], body, n)
			wantOK, wantErr := readEventsOf(p[1], body, n)
			if gotOK != wantOK || gotErr != wantErr {
				t.Fatalf("%.200q in pieces of %d:\ndeferred watch: %.300s%s\neager watch:    %.300s%s", body, n, gotOK, gotErr, wantOK, wantErr)
			}
		}
	})
}
