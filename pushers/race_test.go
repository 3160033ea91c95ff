package pushers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ovation-live/ovation/schemas"
)

// TestSubscribeRacesFirstFrames: 300 rooms, each subscribed at a random
// moment among its first five frames (snapshots written after every 1st,
// 2nd or 3rd frame). Every subscriber must end at frame 5 with the
// processor's state, without a gap or a duplicate.
func TestSubscribeRacesFirstFrames(t *testing.T) {
	brokers, topics := testKafka(t, 3)
	ctx := context.Background()
	s := startServer(t, brokers, topics, nil)
	const iterations, batch, frames = 300, 30, 5
	procs := []*fakeProc{newProc(t, brokers, topics), newProc(t, brokers, topics)}
	run := fmt.Sprint(time.Now().UnixNano())
	for b := 0; b < iterations/batch; b++ {
		c, _, err := dialClient(s.url, allRooms(t, fmt.Sprint("racer", b)), nil)
		if err != nil {
			t.Fatal(err)
		}
		type step struct {
			room string
			idx  int
			sub  bool
		}
		var steps []step
		var rooms []string
		for i := 0; i < batch; i++ {
			room := fmt.Sprintf("race-%s-%d-%d", run, b, i)
			rooms = append(rooms, room)
			for _, p := range procs {
				p.snapFor[room] = uint64(1 + i%3)
			}
			for k := 0; k < frames; k++ {
				steps = append(steps, step{room: room, idx: i})
			}
			steps = append(steps, step{room: room, idx: i, sub: true})
		}
		rand.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
		// Each room's ticks go through one processor, in order; the two
		// processors run concurrently.
		errc := make(chan error, 2)
		for pi, p := range procs {
			go func() {
				for _, st := range steps {
					if st.sub || st.idx%2 != pi {
						continue
					}
					if err := p.tick(ctx, map[string]*schemas.Delta{st.room: randomDelta(rand.IntN(100), rand.IntN(2), 30)}); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
		}
		for _, st := range steps {
			if st.sub {
				c.subscribe(st.room)
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
			}
		}
		for range procs {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		for i, room := range rooms {
			p := procs[i%2]
			_, last, want := p.room(room)
			if last != frames {
				t.Fatalf("%s: processor at %d", room, last)
			}
			c.waitFor(t, 20*time.Second, room+" at frame 5", func(c *tclient) bool { r := c.rooms[room]; return r != nil && r.seq == frames })
			c.mu.Lock()
			r := c.rooms[room]
			if len(c.violations) > 0 || r.resets != 0 || r.subscribed != 1 || stateJSON(r.state) != stateJSON(want) {
				c.mu.Unlock()
				t.Fatalf("%s: violations %v, resets %d, subscribed %d\n got %s\nwant %s", room, c.violations, r.resets, r.subscribed, stateJSON(r.state), stateJSON(want))
			}
			c.mu.Unlock()
		}
		c.close()
	}
}
