package ingest

import (
	"container/list"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a set of token buckets, one per key (a user or a client
// address), holding at most maxKeys buckets. It is sharded so concurrent
// requests for different keys rarely share a lock; each shard keeps its
// buckets in least-recently-used order and drops the oldest when a new key
// needs room. A dropped key starts again with a full bucket, so eviction
// can only ever be generous to a key that was idle longer than every other
// key in its shard: memory stays bounded whatever an attacker does, at the
// price of that bounded leniency.
type keyedLimiter struct {
	limit  rate.Limit
	burst  int
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const limiterShards = 16

type limiterShard struct {
	mu      sync.Mutex
	max     int
	byKey   map[string]*list.Element
	lru     list.List // front = most recently used; values are *bucket
	evicted uint64
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// newKeyedLimiter returns nil when perSec is negative (no limit).
func newKeyedLimiter(perSec float64, burst, maxKeys int) *keyedLimiter {
	if perSec < 0 {
		return nil
	}
	l := &keyedLimiter{limit: rate.Limit(perSec), burst: burst, seed: maphash.MakeSeed()}
	per := max(1, maxKeys/limiterShards)
	for i := range l.shards {
		l.shards[i].max = per
		l.shards[i].byKey = make(map[string]*list.Element)
	}
	return l
}

// allow takes one token for key at now. When the bucket is empty it
// returns false and how many whole seconds until a token is back.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, int) {
	if l == nil {
		return true, 0
	}
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	var lim *rate.Limiter
	if el, ok := sh.byKey[key]; ok {
		sh.lru.MoveToFront(el)
		lim = el.Value.(*bucket).lim
	} else {
		if sh.lru.Len() >= sh.max {
			old := sh.lru.Back()
			sh.lru.Remove(old)
			delete(sh.byKey, old.Value.(*bucket).key)
			sh.evicted++
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		sh.byKey[key] = sh.lru.PushFront(&bucket{key: key, lim: lim})
	}
	// The limiter has its own lock; holding the shard lock too keeps a
	// concurrent eviction from handing the key a second, fresh bucket.
	ok := lim.AllowN(now, 1)
	var wait int
	if !ok {
		wait = retryAfter(lim.TokensAt(now), float64(l.limit))
	}
	sh.mu.Unlock()
	return ok, wait
}

// peek reports whether key's bucket holds a token at now, without taking
// it or making a bucket for a key that has none (a new key's bucket is
// full). A request is refused before its body is read when it is empty.
func (l *keyedLimiter) peek(key string, now time.Time) (bool, int) {
	if l == nil {
		return true, 0
	}
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	el, ok := sh.byKey[key]
	if !ok {
		return true, 0
	}
	lim := el.Value.(*bucket).lim
	if tokens := lim.TokensAt(now); tokens < 1 {
		return false, retryAfter(tokens, float64(l.limit))
	}
	return true, 0
}

// retryAfter is the whole seconds until tokens reaches 1 at perSec.
func retryAfter(tokens, perSec float64) int {
	if perSec <= 0 {
		return 60
	}
	s := int(math.Ceil((1 - tokens) / perSec))
	return min(max(s, 1), 3600)
}

// size returns how many keys have a bucket, and how many were dropped.
func (l *keyedLimiter) size() (keys int, evicted uint64) {
	if l == nil {
		return 0, 0
	}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		keys += sh.lru.Len()
		evicted += sh.evicted
		sh.mu.Unlock()
	}
	return keys, evicted
}
