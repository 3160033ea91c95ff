package schemas

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMergeLawHeld: a moderator view's deltas (held items added, keys
// removed, a key removed and added again in one delta) merge exactly:
// Apply(Merge(a, b)) equals Apply(a); Apply(b), and Merge is associative,
// for random deltas over a few keys.
func TestMergeLawHeld(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 14))
		delta := func() Delta {
			var d Delta
			for range rnd.IntN(4) {
				d.HeldRemoved = append(d.HeldRemoved, fmt.Sprint("k", rnd.IntN(6)))
			}
			for range rnd.IntN(4) {
				if d.Held == nil {
					d.Held = map[string]*HeldItem{}
				}
				k := fmt.Sprint("k", rnd.IntN(6))
				d.Held[k] = &HeldItem{Kind: HeldChat, User: fmt.Sprint("u", rnd.IntN(3)), ID: k, Text: fmt.Sprint("t", rnd.IntN(100)), TS: rnd.Int64N(1000)}
			}
			return d
		}
		s := NewRoomState()
		for step := range 30 {
			a, b, c := delta(), delta(), delta()
			seq := s.Clone()
			seq.Apply(&a)
			seq.Apply(&b)
			seq.Apply(&c)
			ab, bc := Merge(&a, &b), Merge(&b, &c)
			for name, ds := range map[string][]Delta{"Merge(a,b);c": {ab, c}, "Merge(Merge(a,b),c)": {Merge(&ab, &c)}, "Merge(a,Merge(b,c))": {Merge(&a, &bc)}} {
				m := s.Clone()
				for i := range ds {
					m.Apply(&ds[i])
				}
				if got, want := stateJSON(t, m), stateJSON(t, seq); got != want {
					t.Fatalf("seed %d step %d: %s\n got %s\nwant %s", seed, step, name, got, want)
				}
			}
			s = seq
		}
	}
}
