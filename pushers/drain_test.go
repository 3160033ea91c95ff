package pushers

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovation-live/ovation/internal/kafkatest"
	"github.com/ovation-live/ovation/schemas"
)

// TestDrainOnSIGTERM: `ovation push` receiving SIGTERM fails /readyz at
// once, answers new connections with 4012, closes its 200 clients with
// 4012 spread over the drain window (not all at once), and exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topics := schemas.Topics{
		Events:    kafkatest.Topic(t, brokers, 1),
		Frames:    kafkatest.Topic(t, brokers, 1),
		Snapshots: kafkatest.Topic(t, brokers, 1, "cleanup.policy=compact"),
	}.WithDefaults()
	p := startPusher(t, ovationBinary(t), "drainer", brokers, topics, "--drain-window", "3s")
	const n = 200
	cs := make([]*tclient, n)
	for i := range cs {
		c, _, err := dialClient(p.url, allRooms(t, fmt.Sprint("d", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		c.subscribe("lobby")
		cs[i] = c
	}
	for _, c := range cs {
		c.waitFor(t, 10*time.Second, "subscribed", func(c *tclient) bool { r := c.rooms["lobby"]; return r != nil && r.hadState })
	}
	var mu sync.Mutex
	var closedAt []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := c.waitClosed(t, 15*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if code != CloseReconnect {
				t.Errorf("close code %d, want %d", code, CloseReconnect)
			}
			closedAt = append(closedAt, time.Since(start))
		}()
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during drain: %d, want 503", resp.StatusCode)
	}
	late, _, err := dialClient(p.url, allRooms(t, "late"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := late.waitClosed(t, 5*time.Second); code != CloseReconnect {
		t.Errorf("connection during drain: close %d, want %d", code, CloseReconnect)
	}
	wg.Wait()
	slices.Sort(closedAt)
	first, median, last := closedAt[0], closedAt[len(closedAt)/2], closedAt[len(closedAt)-1]
	t.Logf("200 closes with 4012: first %v, median %v, last %v after SIGTERM", first.Round(time.Millisecond), median.Round(time.Millisecond), last.Round(time.Millisecond))
	if last-first < 2*time.Second || median < 1*time.Second || last > 6*time.Second {
		t.Errorf("closes not spread over the 3s window: first %v median %v last %v", first, median, last)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after drain: %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("pusher did not exit after the drain")
	}
}
