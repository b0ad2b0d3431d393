package stack

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target (GOGC) that TuneGC sets.
// The platform allocates about 650 KB per order (gRPC streams, Kafka
// fetches, decoded events) over a live heap of about 40 MB at 350 orders/s;
// at Go's default of 100 collecting takes a fifth of its CPU. At 400 the
// heap grows to about five times the live one (200 MB there) and the saga
// runs 12 to 20 % more orders per second on 2 cores (docs/benchmarks.md).
const GCPercent = 400

// TuneGC sets the process's GC target to GCPercent unless the operator set
// GOGC. `troupe up` and `troupe serve` call it before starting, and the
// saga benchmark does too, so that it measures the platform as those
// commands run it. It changes the whole process, so a program embedding
// the stack decides for itself whether to call it.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
