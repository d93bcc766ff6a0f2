package main

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Pinning a process reaches every one of its threads, and undoing it
// gives them every core back.
func TestPinReachesEveryThread(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("needs Linux and two cores")
	}
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	t.Cleanup(func() { _ = pin(os.Getpid(), all) })
	check := func(want int) {
		t.Helper()
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			var set unix.CPUSet
			tid, err := strconv.Atoi(task.Name())
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.SchedGetaffinity(tid, &set); err != nil {
				continue // the thread ended
			}
			if set.Count() != want {
				t.Fatalf("thread %d may run on %d CPUs, want %d", tid, set.Count(), want)
			}
		}
	}
	if err := pin(os.Getpid(), []int{1}); err != nil {
		t.Fatal(err)
	}
	check(1)
	if err := pin(os.Getpid(), all); err != nil {
		t.Fatal(err)
	}
	check(len(all))
}
