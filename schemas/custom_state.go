package schemas

import (
	"maps"

	"github.com/segmentio/encoding/json"
)

// Custom is one custom type's public state in a room (RoomState.Custom,
// by type name). Counts (counter, distinct) and Values (register) are by
// key. Fold and Title come from the registry when the type first counts
// in the room, so a client folds and renders it without the registry.
type Custom struct {
	Fold  string   `json:"fold"`
	Title string   `json:"title,omitempty"`
	Keys  []string `json:"keys,omitempty"` // the registered keys, in display order
	// KeyField and AmountField are the data fields the type's events
	// name their key and amount in, so a client can publish one (a
	// button per key) without the registry.
	KeyField    string                     `json:"key_field,omitempty"`
	AmountField string                     `json:"amount_field,omitempty"`
	Counts      map[string]int64           `json:"counts,omitempty"`
	Values      map[string]json.RawMessage `json:"values,omitempty"`
}

// CustomDelta is a custom type's change. Fold, Title and Keys are set in
// the delta where the type first counts in the room (and then replace);
// Counts add; Values replace by key.
type CustomDelta struct {
	Fold        string                     `json:"fold,omitempty"`
	Title       string                     `json:"title,omitempty"`
	Keys        []string                   `json:"keys,omitempty"`
	KeyField    string                     `json:"key_field,omitempty"`
	AmountField string                     `json:"amount_field,omitempty"`
	Counts      map[string]int64           `json:"counts,omitempty"`
	Values      map[string]json.RawMessage `json:"values,omitempty"`
}

func applyCustom(dst map[string]*Custom, d map[string]*CustomDelta) map[string]*Custom {
	for name, cd := range d {
		if cd == nil {
			continue
		}
		if dst == nil {
			dst = map[string]*Custom{}
		}
		c := dst[name]
		if c == nil {
			c = &Custom{}
			dst[name] = c
		}
		if cd.Fold != "" {
			c.Fold, c.Title, c.Keys = cd.Fold, cd.Title, cloneStrings(cd.Keys)
			c.KeyField, c.AmountField = cd.KeyField, cd.AmountField
		}
		for k, n := range cd.Counts {
			if c.Counts == nil {
				c.Counts = map[string]int64{}
			}
			c.Counts[k] += n
		}
		for k, v := range cd.Values {
			if c.Values == nil {
				c.Values = map[string]json.RawMessage{}
			}
			c.Values[k] = cloneRaw(v)
		}
	}
	return dst
}

func mergeCustom(a, b map[string]*CustomDelta) map[string]*CustomDelta {
	if len(a)+len(b) == 0 {
		return nil
	}
	m := make(map[string]*CustomDelta, len(a)+len(b))
	for _, src := range []map[string]*CustomDelta{a, b} {
		for name, cd := range src {
			if cd == nil {
				continue
			}
			cur := m[name]
			if cur == nil {
				cur = &CustomDelta{}
				m[name] = cur
			}
			if cd.Fold != "" {
				cur.Fold, cur.Title, cur.Keys = cd.Fold, cd.Title, cloneStrings(cd.Keys)
				cur.KeyField, cur.AmountField = cd.KeyField, cd.AmountField
			}
			if len(cd.Counts) > 0 {
				cur.Counts = mergeCounts(cur.Counts, cd.Counts)
			}
			for k, v := range cd.Values {
				if cur.Values == nil {
					cur.Values = map[string]json.RawMessage{}
				}
				cur.Values[k] = cloneRaw(v)
			}
		}
	}
	return m
}

func cloneCustom(s map[string]*Custom) map[string]*Custom {
	if s == nil {
		return nil
	}
	c := make(map[string]*Custom, len(s))
	for name, x := range s {
		if x == nil {
			continue
		}
		y := &Custom{Fold: x.Fold, Title: x.Title, Keys: cloneStrings(x.Keys), KeyField: x.KeyField, AmountField: x.AmountField, Counts: maps.Clone(x.Counts)}
		if x.Values != nil {
			y.Values = make(map[string]json.RawMessage, len(x.Values))
			for k, v := range x.Values {
				y.Values[k] = cloneRaw(v)
			}
		}
		c[name] = y
	}
	return c
}

// CustomFullDelta returns the delta that turns an empty room into one
// holding s's custom state.
func CustomFullDelta(s map[string]*Custom) map[string]*CustomDelta {
	if len(s) == 0 {
		return nil
	}
	d := make(map[string]*CustomDelta, len(s))
	for name, c := range cloneCustom(s) {
		d[name] = &CustomDelta{Fold: c.Fold, Title: c.Title, Keys: c.Keys, KeyField: c.KeyField, AmountField: c.AmountField, Counts: c.Counts, Values: c.Values}
	}
	return d
}

func normalizeCustom(d map[string]*CustomDelta) (map[string]*CustomDelta, error) {
	if len(d) == 0 {
		return nil, nil
	}
	for name, cd := range d {
		if cd == nil {
			return nil, nullEntry("delta.custom", name)
		}
		if len(cd.Keys) == 0 {
			cd.Keys = nil
		}
		if len(cd.Counts) == 0 {
			cd.Counts = nil
		}
		if len(cd.Values) == 0 {
			cd.Values = nil
		}
	}
	return d, nil
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneRaw(v json.RawMessage) json.RawMessage {
	if v == nil {
		return nil
	}
	return append(json.RawMessage(nil), v...)
}
