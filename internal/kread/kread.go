// Package kread reads one Kafka partition from an offset to a bound,
// read_committed, the way every Ovation role needs it: restoring state
// from a changelog, folding a room's history, loading an evicted room.
// The bound is exclusive and, by default, the partition's last stable
// offset when the read starts; control records are kept internally so a
// read whose last records were aborted, or end in a transaction marker,
// still knows it has passed the bound.
package kread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Range says what to read. From below the log start reads from the log
// start; End < 0 reads to the last stable offset at the start of the read.
type Range struct {
	Topic     string
	Partition int32
	From      int64
	End       int64
}

// Stop, returned by a Read callback, ends the read early without error.
var Stop = errors.New("kread: stop")

// Progress, when set, is called every few seconds of a long read with
// how many offsets are done out of how many.
type Progress func(done, total int64)

// Read reads r with a client built from opts (seed brokers and whatever
// else the caller's clients use, e.g. TLS) and calls fn for every data
// record in offset order. It stops at the first error of fn (Stop ends it
// without one) or of a fetch, or when ctx ends; the error says where.
func Read(ctx context.Context, opts []kgo.Opt, r Range, progress Progress, fn func(*kgo.Record) error) error {
	at := kgo.NewOffset().AtStart()
	if r.From >= 0 {
		// Below the log start, the client resets to the start.
		at = kgo.NewOffset().At(r.From)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: at}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(64<<20),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	end := r.End
	if end < 0 {
		lso, err := adm.ListCommittedOffsets(ctx, r.Topic)
		if err != nil {
			return fmt.Errorf("list stable offsets of %s: %w", r.Topic, err)
		}
		o, ok := lso.Lookup(r.Topic, r.Partition)
		if !ok || o.Err != nil {
			return fmt.Errorf("list stable offset of %s/%d: %v", r.Topic, r.Partition, o.Err)
		}
		end = o.Offset
	}
	from := max(r.From, 0)
	starts, err := adm.ListStartOffsets(ctx, r.Topic)
	if err != nil {
		return fmt.Errorf("list start offsets of %s: %w", r.Topic, err)
	}
	if so, ok := starts.Lookup(r.Topic, r.Partition); ok && from < so.Offset {
		from = so.Offset
	}
	if from >= end {
		return nil
	}
	total := end - from
	lastLog := time.Now()
	pos := from
	for pos < end {
		if ctx.Err() != nil {
			return fmt.Errorf("read of %s/%d stopped at %d of [%d, %d): %w", r.Topic, r.Partition, pos, from, end, ctx.Err())
		}
		fs := cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				ferr = err
			}
		})
		if ferr != nil {
			return fmt.Errorf("fetch %s/%d at %d: %w", r.Topic, r.Partition, pos, ferr)
		}
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			if rec.Offset < pos {
				continue
			}
			if rec.Offset >= end {
				pos = end
				break
			}
			pos = rec.Offset + 1
			if rec.Attrs.IsControl() {
				continue
			}
			if err := fn(rec); err != nil {
				if errors.Is(err, Stop) {
					return nil
				}
				return err
			}
		}
		if progress != nil && time.Since(lastLog) > 3*time.Second {
			lastLog = time.Now()
			progress(pos-from, total)
		}
	}
	return nil
}
