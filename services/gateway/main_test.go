package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCDefaultsAndYieldsToGOGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if got := tuneGC(func(string) string { return "" }); got != gcPercent {
		t.Fatalf("without GOGC: %d, want %d", got, gcPercent)
	}
	if now := debug.SetGCPercent(100); now != gcPercent {
		t.Fatalf("GC percent in force %d, want %d", now, gcPercent)
	}
	// GOGC in the environment was applied by the runtime at start; here
	// 100 stands for it, and it must stay.
	if got := tuneGC(func(k string) string { return map[string]string{"GOGC": "100"}[k] }); got != 100 {
		t.Fatalf("with GOGC set: %d, want the runtime's 100", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Fatalf("GC percent in force %d, want 100 left alone", now)
	}
}
