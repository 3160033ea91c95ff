package processors

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reqCounter is a franz-go hook on the processor's client that counts
// what it asks of the broker (TestBenchQuietRooms): requests by key,
// produced record batches, and the partitions each transaction touched
// (every one costs the broker a commit marker).
type reqCounter struct {
	mu      sync.Mutex
	reqs    map[int16]int
	batches int
	touched map[string]bool // partitions produced to since the last EndTxn
	marked  int             // partitions summed over EndTxn requests
}

func newReqCounter() *reqCounter {
	return &reqCounter{reqs: map[int16]int{}, touched: map[string]bool{}}
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (c *reqCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs[key]++
	if key == kmsg.EndTxn.Int16() {
		// The group's offsets partition gets a marker too when the
		// transaction committed offsets (AddOffsetsToTxn).
		c.marked += len(c.touched)
		clear(c.touched)
	}
}

// OnProduceBatchWritten implements kgo.HookProduceBatchWritten.
func (c *reqCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, partition int32, _ kgo.ProduceBatchMetrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	c.touched[topic+"/"+strconv.Itoa(int(partition))] = true
}

// reqSnapshot is what a reqCounter had counted at one moment.
type reqSnapshot struct {
	reqs            map[int16]int
	batches, marked int
}

func (c *reqCounter) snapshot() reqSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := reqSnapshot{reqs: map[int16]int{}, batches: c.batches, marked: c.marked}
	for k, v := range c.reqs {
		s.reqs[k] = v
	}
	return s
}

// sub returns what was counted between o and s.
func (s reqSnapshot) sub(o reqSnapshot) reqSnapshot {
	d := reqSnapshot{reqs: map[int16]int{}, batches: s.batches - o.batches, marked: s.marked - o.marked}
	for k, v := range s.reqs {
		if n := v - o.reqs[k]; n > 0 {
			d.reqs[k] = n
		}
	}
	return d
}

func (s reqSnapshot) total() int {
	n := 0
	for _, v := range s.reqs {
		n += v
	}
	return n
}

// perLine formats the counts per event sent: all requests, then the
// largest kinds by name.
func (s reqSnapshot) perLine(events int) string {
	if events == 0 {
		return ""
	}
	keys := make([]int16, 0, len(s.reqs))
	for k := range s.reqs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.reqs[keys[i]] > s.reqs[keys[j]] })
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(int(k))
		if r := kmsg.RequestForKey(k); r != nil {
			name = kmsg.NameForKey(k)
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", name, float64(s.reqs[k])/float64(events)))
	}
	return strings.Join(parts, ", ")
}

// procCPU returns the CPU time (user + system) of process pid from
// /proc/PID/stat, or 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}
