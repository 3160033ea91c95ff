package processors

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ovation-live/ovation/schemas"
)

// TestChatEvictionsAreExplicit: once a room's chat history is full, each
// frame lists the lines its new ones push out, so merging the frames a slow
// client missed (as pushers do) gives exactly the room's state, even with
// moderator deletes in between.
func TestChatEvictionsAreExplicit(t *testing.T) {
	h := newHarness(t, nil)
	n := 0
	chat := func() {
		n++
		h.apply(ev(t, fmt.Sprintf("c%d", n), "r", "u", schemas.ChatMessage, int64(1000+n), schemas.ChatMessageData{Text: "hi"}))
	}
	for range schemas.ChatHistory {
		chat()
	}
	h.flush()
	chat() // evicts c1
	h.flush()
	last := h.frames[len(h.frames)-1]
	if !slices.Equal(last.Delta.ChatDeleted, []string{"c1"}) {
		t.Fatalf("frame that pushed c1 out lists chat_deleted %v, want [c1]", last.Delta.ChatDeleted)
	}
	mark := len(h.frames)
	chat() // evicts c2
	h.flush()
	h.apply(ev(t, "del-50", "r", "mod", schemas.ChatDelete, 5000, schemas.ChatDeleteData{MessageID: "c50"}))
	h.flush()
	chat() // history has room again: evicts nothing
	h.flush()
	chat() // evicts c3
	h.flush()

	// A slow client holds the state at mark and gets the rest merged.
	st := schemas.NewRoomState()
	for _, f := range h.frames[:mark] {
		st.Apply(&f.Delta)
	}
	merged := h.frames[mark].Delta
	for _, f := range h.frames[mark+1:] {
		merged = schemas.Merge(&merged, &f.Delta)
	}
	st.Apply(&merged)
	want, _, _ := h.fold("r")
	if !equalState(st, want) {
		t.Fatalf("merged frames differ from the room's fold:\n%s", diffState(st, want))
	}
	if len(want.Chat) != schemas.ChatHistory || want.Chat[0].ID != "c4" {
		t.Fatalf("room keeps %d lines from %s, want %d from c4", len(want.Chat), want.Chat[0].ID, schemas.ChatHistory)
	}
	h.checkFold()
}
