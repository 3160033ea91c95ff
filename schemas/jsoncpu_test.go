package schemas

import (
	"testing"

	"github.com/segmentio/asm/cpu"
	"github.com/segmentio/asm/cpu/x86"
)

// BenchmarkDecodeSmall decodes and validates the data of a typical chat
// line, as ingest does for every event, with segmentio/asm's AVX2 paths
// as this package leaves them (off) and, for comparison in the same run,
// switched back on where the CPU has them (jsoncpu.go says why).
func BenchmarkDecodeSmall(b *testing.B) {
	data := []byte(`{"text":"a chat message of a typical length, with a name","name":"Viewer"}`)
	run := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ev := Event{Type: ChatMessage, Data: data}
			if err := ev.ValidateBody(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("scalar", run)
	saved := cpu.X86
	defer func() { cpu.X86 = saved }()
	cpu.X86 = x86.ABI()
	if !cpu.X86.Has(x86.AVX2) {
		b.Skip("this CPU has no AVX2")
	}
	b.Run("avx2", run)
}
