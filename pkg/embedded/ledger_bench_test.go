package embedded_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/dossapp/backend/pkg/mongox"
)

// cpuNow is the CPU this process (the client and the in-process store)
// has used so far.
func cpuNow(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLedgerAppend is one append to a chain with a full tail, as a
// login's attempt ledgers do, reporting the CPU it costs beside the time.
func BenchmarkLedgerAppend(b *testing.B) {
	l := mongox.NewLedger(testDB(b).Collection("ledger"), nil)
	ctx := context.Background()
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("pin:phone:+1415%07d", i)
	}
	hit := func(*mongox.Tail, time.Time) (string, error) { return "fail", nil }
	for range 70 { // past RecentEntries, so every value is full size
		for _, k := range keys {
			if _, err := l.Append(ctx, k, hit); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu0 := cpuNow(b)
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Append(ctx, keys[i%len(keys)], hit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow(b)-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}
