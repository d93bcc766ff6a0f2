package testkit

import (
	"bytes"
	"context"
	"strings"
	"sync"
)

// Logs is a log sink that services may write from many goroutines while a
// test reads it, or waits for a line.
type Logs struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed at the next Write; nil while nobody waits
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.written != nil {
		close(l.written)
		l.written = nil
	}
	return l.b.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Await returns the first line that contains s, waking at each write
// rather than polling; ctx bounds the wait.
func (l *Logs) Await(ctx context.Context, s string) (string, error) {
	for {
		l.mu.Lock()
		for _, line := range strings.Split(l.b.String(), "\n") {
			if strings.Contains(line, s) {
				l.mu.Unlock()
				return line, nil
			}
		}
		if l.written == nil {
			l.written = make(chan struct{})
		}
		written := l.written
		l.mu.Unlock()
		select {
		case <-written:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
