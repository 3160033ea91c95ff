package schemas

import (
	"errors"
	"testing"
)

// FuzzParseDeploymentCopy: a deployment copy's value either parses to a
// valid deployment-wide event of the room asked for, or is refused with
// ErrNotDeploymentCopy; it never panics.
func FuzzParseDeploymentCopy(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"a","room":"ovation.deployment","user":"m","type":"mod.ban","ts":1,"data":{"target":"bob"}}`,
		`{"v":1,"id":"a","room":"ovation.deployment","user":"m","type":"mod.timeout","ts":1,"data":{"target":"bob","seconds":60}}`,
		`{"v":1,"id":"a","room":"ovation.deployment","user":"m","type":"mod.unban","ts":1,"data":{"target":"bob"}}`,
		`{"v":1,"id":"a","room":"ovation.deployment","user":"m","type":"mod.filters","ts":1,"data":{"words":["x"],"patterns":["f+"],"action":"mask"}}`,
		`{"v":1,"id":"a","room":"other","user":"m","type":"mod.ban","ts":1,"data":{"target":"bob"}}`,
		`{"v":1,"id":"a","room":"ovation.deployment","user":"m","type":"chat.message","ts":1,"data":{"text":"hi"}}`,
		`{}`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseDeploymentCopy(b, DefaultDeploymentRoom)
		if err != nil {
			if !errors.Is(err, ErrNotDeploymentCopy) {
				t.Fatalf("error %v is not ErrNotDeploymentCopy", err)
			}
			return
		}
		if !IsDeploymentWide(ev.Type) || ev.Room != DefaultDeploymentRoom {
			t.Fatalf("accepted %s in %s", ev.Type, ev.Room)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
	})
}

func TestParseDeploymentCopy(t *testing.T) {
	if _, err := ParseDeploymentCopy([]byte(`{"v":1,"id":"a","room":"r","user":"m","type":"chat.message","ts":1,"data":{"text":"hi"}}`), ""); !errors.Is(err, ErrNotDeploymentCopy) {
		t.Fatalf("a chat line parsed as a copy: %v", err)
	}
	if _, err := ParseDeploymentCopy([]byte(`{"v":1,"id":"a","room":"r","user":"m","type":"mod.ban","ts":1,"data":{"target":"b"}}`), "ovation.deployment"); err == nil {
		t.Fatal("a copy of another room parsed")
	}
	if _, err := ParseDeploymentCopy([]byte(`{"v":1,"id":"a","room":"r","user":"m","type":"mod.ban","ts":1,"data":{"target":"b"}}`), ""); err != nil {
		t.Fatal(err)
	}
}
