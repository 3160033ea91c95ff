package processors

import (
	"fmt"

	"github.com/ovation-live/ovation/schemas"
)

// Custom types (schemas/custom.go): the deployment's registered event
// types, folded like the built-in kinds, deterministically by event
// position.
//
//	counter   pub Counts[key] += amount
//	register  pub Values[key] = value (the last by position)
//	distinct  pub Counts[key] = users counted under key; a user counts
//	          once per key (private: the users per key, logged as
//	          customRec in l/ and c/ records like upvotes)
//
// Every key a room adds reserves its worst encoded size (a register's
// value at schemas.MaxCustomValueBytes), so later events under the key
// never grow the room's bound; a room's custom state together stays
// under schemas.MaxCustomStateBytes (WorstCaseStateBytes counts it), and
// each type under its max_keys.

// ReasonAlreadyCounted: a distinct type's user already counted under the
// key.
const ReasonAlreadyCounted Reason = "already_counted"

func init() { ignoreReasons = append(ignoreReasons, ReasonAlreadyCounted) }

// customPriv is one custom type's private state in a room.
type customPriv struct {
	keys  map[string]struct{}            // keys the room holds
	users map[string]map[string]struct{} // distinct: key → users counted
}

// customRec is one distinct user counted under a key of a type.
type customRec struct {
	T string `json:"t"`
	K string `json:"k"`
	U string `json:"u"`
}

func customRecBytes(c *customRec) int {
	return jsonStringLen(c.T) + jsonStringLen(c.K) + jsonStringLen(c.U) + 20
}

// customTypeBytes bounds a custom type's entry without keys.
func customTypeBytes(name, title string, keys []string) int {
	n := jsonStringLen(name) + jsonStringLen(title) + 64 + 2*(64+16) // and the two field names (at most 64 bytes of [A-Za-z0-9_])
	for _, k := range keys {
		n += jsonStringLen(k) + 1
	}
	return n
}

// customKeyBytes bounds one key's entry (a register's value at its
// largest).
func customKeyBytes(fold, key string) int {
	if fold == schemas.FoldRegister {
		return jsonStringLen(key) + 2 + schemas.MaxCustomValueBytes
	}
	return jsonStringLen(key) + 2 + intBytes
}

// worstCustomBytes bounds a room's custom state in a snapshot or core
// record: the budget (applyCustom never lets the reservations pass it)
// and the state's own `,"custom":{}`.
func worstCustomBytes() int {
	return schemas.MaxCustomStateBytes + 16
}

func (r *room) customDelta(name string) *schemas.CustomDelta {
	if r.pend.Custom == nil {
		r.pend.Custom = map[string]*schemas.CustomDelta{}
	}
	cd := r.pend.Custom[name]
	if cd == nil {
		cd = &schemas.CustomDelta{}
		r.pend.Custom[name] = cd
	}
	return cd
}

// applyCustom folds one custom event.
func (r *room) applyCustom(cfg *Config, ev *schemas.Event, d *schemas.CustomData) (Outcome, Reason) {
	t := d.T
	name := string(t.Name)
	cp := r.custom[name]
	n := 0
	if cp == nil {
		n += customTypeBytes(name, t.Title, t.Keys)
	}
	_, hasKey := cp.keyset()[d.Key]
	if !hasKey {
		if cp != nil && len(cp.keys) >= t.MaxKeys {
			return DeadLettered, ReasonLimit
		}
		n += customKeyBytes(t.Fold, d.Key)
	}
	if t.Fold == schemas.FoldDistinct && hasKey {
		if _, ok := cp.users[d.Key][ev.User]; ok {
			return Ignored, ReasonAlreadyCounted
		}
	}
	if n > 0 {
		switch {
		case r.customBytes+n > schemas.MaxCustomStateBytes:
			return DeadLettered, ReasonLimit
		case !r.fits(cfg, n):
			return DeadLettered, ReasonTooLarge
		}
		r.customBytes += n
		r.size += n
		r.pendBytes += n
	}
	cd := r.customDelta(name)
	if cp == nil {
		cp = &customPriv{keys: map[string]struct{}{}}
		mk(&r.custom)[name] = cp
		cd.Fold, cd.Title, cd.Keys = t.Fold, t.Title, t.Keys
		cd.KeyField, cd.AmountField = t.Key, t.Amount
	}
	cp.keys[d.Key] = struct{}{}
	switch t.Fold {
	case schemas.FoldCounter:
		mk(&cd.Counts)[d.Key] += d.Amount
	case schemas.FoldRegister:
		mk(&cd.Values)[d.Key] = d.Value
		r.pendBytes += len(d.Value)
	case schemas.FoldDistinct:
		set := cp.users[d.Key]
		if set == nil {
			set = map[string]struct{}{}
			mk(&cp.users)[d.Key] = set
		}
		set[ev.User] = struct{}{}
		mk(&cd.Counts)[d.Key]++
		r.logCustom = append(r.logCustom, customRec{T: name, K: d.Key, U: ev.User})
	}
	return Applied, ""
}

func (cp *customPriv) keyset() map[string]struct{} {
	if cp == nil {
		return nil
	}
	return cp.keys
}

// restoreCustom rebuilds the custom types' private state and size from
// the restored public state; distinct users come from the l/ and c/
// records (replayCustom).
func (r *room) restoreCustom() {
	for name, c := range r.pub.Custom {
		cp := &customPriv{keys: map[string]struct{}{}}
		n := customTypeBytes(name, c.Title, c.Keys)
		for k := range c.Counts {
			cp.keys[k] = struct{}{}
		}
		for k := range c.Values {
			cp.keys[k] = struct{}{}
		}
		for k := range cp.keys {
			n += customKeyBytes(c.Fold, k)
		}
		mk(&r.custom)[name] = cp
		r.customBytes += n
		r.size += n
	}
}

func (r *room) replayCustom(cs []customRec) error {
	for _, c := range cs {
		cp := r.custom[c.T]
		if cp == nil {
			return fmt.Errorf("distinct user of custom type %s that the core record lacks", c.T)
		}
		set := cp.users[c.K]
		if set == nil {
			set = map[string]struct{}{}
			mk(&cp.users)[c.K] = set
		}
		set[c.U] = struct{}{}
	}
	return nil
}

// customCheckpoint returns every distinct user of every custom type.
func (r *room) customCheckpoint(add func(customRec)) {
	for name, cp := range r.custom {
		for k, set := range cp.users {
			for u := range set {
				add(customRec{T: name, K: k, U: u})
			}
		}
	}
}
