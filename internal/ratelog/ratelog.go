// Package ratelog keeps refusal logs readable under a flood: a shared rate
// for lines and a cut for client-controlled fields. A flood of bad input
// then costs the log a few lines a second, never megabytes (a 700 KB kid,
// a million bad frames), and the lines over the rate are still counted.
package ratelog

import (
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Defaults every edge uses: at most Rate lines a second in bursts of Burst,
// and client-controlled strings cut to MaxField bytes.
const (
	Rate     = 5
	Burst    = 20
	MaxField = 128
)

// Limiter decides which refusal lines get out. Safe for concurrent use.
type Limiter struct {
	lim        *rate.Limiter
	suppressed atomic.Int64
}

// New returns a Limiter at Rate lines a second, bursts of Burst.
func New() *Limiter { return &Limiter{lim: rate.NewLimiter(Rate, Burst)} }

// Allow reports whether a line may be written now. When it may, suppressed
// is the number of lines left out since the last one that got out, for the
// caller to add to its line; when it may not, the line is counted.
func (l *Limiter) Allow() (ok bool, suppressed int64) {
	if !l.lim.Allow() {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

// Field cuts a client-controlled string to MaxField bytes on a rune
// boundary, saying how long it was.
func Field(s string) string {
	if len(s) <= MaxField {
		return s
	}
	n := MaxField
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
