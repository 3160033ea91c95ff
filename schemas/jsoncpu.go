package schemas

import (
	"github.com/segmentio/asm/cpu"
	"github.com/segmentio/asm/cpu/x86"
)

// The JSON codec (segmentio/encoding) runs ascii.ValidPrint from
// segmentio/asm over the whole input of every json.Parse, to pick its
// fast paths. Its AVX2 routine costs a fixed ~280 ns a call on the 2-core
// Xeon VMs this project is measured on, whatever the length (15 bytes:
// 7 ns on the scalar path, 16 bytes: 300 ns), while the scalar path reads
// 100 bytes in 13–28 ns and 10 KB in 1.1 µs. Ingest parses two small
// inputs per event (the event, then its data), so that was 12–14% of its
// CPU (BenchmarkPrepareBatch, BenchmarkDecodeSmall). Turning the library's
// AVX2 paths off costs at most a few hundred ns on a large body where
// they are fast, and saves ~0.5 µs per event where they are not. Only
// segmentio/asm reads this bitset (ascii, base64, utf8 in that module);
// the runtime's and the standard library's vector code are untouched.
func init() { cpu.X86 &^= x86.CPU(x86.AVX2) }
