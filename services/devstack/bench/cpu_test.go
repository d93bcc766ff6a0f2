package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestCPUTimeGrowsWithWork(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has charged this process at least two ticks.
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after-before >= 2*clockTick {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v after 10 s of spinning", after)
		}
	}
}

func TestCPUPerSharesTheDifferenceByOperation(t *testing.T) {
	before := map[string]time.Duration{"auth": time.Second, "stores": 0, "idle": time.Second}
	after := map[string]time.Duration{"auth": 3 * time.Second, "stores": time.Second, "idle": time.Second}
	shares, total := cpuPer(before, after, 100)
	if total != 30*time.Millisecond {
		t.Fatalf("total %v, want 30ms", total)
	}
	if shares != "auth 20.0, stores 10.0 (ms)" {
		t.Fatalf("shares %q", shares)
	}
	if s, _ := cpuPer(before, after, 0); !strings.Contains(s, "no operations") {
		t.Fatalf("zero operations: %q", s)
	}
}
