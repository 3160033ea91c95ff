package kread

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ovation-live/ovation/internal/kafkatest"
)

// TestRead writes ten committed records and then an aborted transaction of
// five on a real broker, and reads ranges of the partition: the bound is
// the last stable offset, an aborted tail still ends the read, Stop ends it
// early, and an empty or out-of-log range reads nothing.
func TestRead(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := kafkatest.Client(t, brokers, kgo.DefaultProduceTopic(topic), kgo.TransactionalID("kread-"+topic))
	txn := func(n, from int, commit bool) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(from + i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(10, 0, true)
	txn(5, 100, false)
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	read := func(from, end int64, stopAt string) []string {
		t.Helper()
		var got []string
		err := Read(ctx, opts, Range{Topic: topic, Partition: 0, From: from, End: end}, nil, func(r *kgo.Record) error {
			got = append(got, string(r.Value))
			if string(r.Value) == stopAt {
				return Stop
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := func(lo, hi int) []string {
		var s []string
		for i := lo; i < hi; i++ {
			s = append(s, fmt.Sprint(i))
		}
		return s
	}
	for _, c := range []struct {
		name string
		from int64
		end  int64
		stop string
		want []string
	}{
		{"all, to the stable end past an aborted tail", -1, -1, "", want(0, 10)},
		{"from an offset", 4, -1, "", want(4, 10)},
		{"to a bound", 2, 5, "", want(2, 5)},
		{"stopped early", 0, -1, "3", want(0, 4)},
		{"empty", 5, 5, "", nil},
		{"past the end", 50, -1, "", nil},
	} {
		if got := read(c.from, c.end, c.stop); !slices.Equal(got, c.want) {
			t.Errorf("%s: read %v, want %v", c.name, got, c.want)
		}
	}
	// A read that cannot finish says where it stopped.
	short, cancelShort := context.WithTimeout(ctx, time.Nanosecond)
	defer cancelShort()
	time.Sleep(time.Millisecond)
	if err := Read(short, opts, Range{Topic: topic, From: -1, End: -1}, nil, func(*kgo.Record) error { return nil }); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read with an expired context: %v", err)
	}
}
