package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Await finds a line written before it was called, one written while it
// waits (from another goroutine, as services log), and gives up with ctx.
func TestLogsAwait(t *testing.T) {
	var l Logs
	fmt.Fprintln(&l, `{"msg":"early"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if line, err := l.Await(ctx, "early"); err != nil || line != `{"msg":"early"}` {
		t.Fatalf("early: %q %v", line, err)
	}
	go func() {
		for i := range 50 {
			fmt.Fprintf(&l, "{\"n\":%d}\n", i)
		}
		fmt.Fprintln(&l, `{"msg":"late"}`)
	}()
	if line, err := l.Await(ctx, `"late"`); err != nil || line != `{"msg":"late"}` {
		t.Fatalf("late: %q %v", line, err)
	}
	short, stop := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer stop()
	if line, err := l.Await(short, "never"); err == nil {
		t.Fatalf("a line never written was found: %q", line)
	}
}
