package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGCDefaultsAndYieldsToGOGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	tuneGC(func(string) string { return "" })
	if now := debug.SetGCPercent(100); now != gcPercent {
		t.Fatalf("without GOGC the percent in force is %d, want %d", now, gcPercent)
	}
	// GOGC in the environment was applied by the runtime at start; here
	// 100 stands for it, and it must stay.
	tuneGC(func(k string) string { return map[string]string{"GOGC": "100"}[k] })
	if now := debug.SetGCPercent(100); now != 100 {
		t.Fatalf("with GOGC set the percent in force is %d, want it left at 100", now)
	}
}
