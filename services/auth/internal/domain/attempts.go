package domain

import "time"

// Attempt is one entry of a counter: a code sent, a check failed, a turn
// taken, an id allocated. Its Seq is its number in the counter, from 1.
type Attempt struct {
	Key  string
	Seq  int64
	Kind string
	At   time.Time
}

// Tail is a counter's attempts as of one read, newest first.
type Tail interface {
	// Empty says the counter has no attempts.
	Empty() bool
	// At returns the i-th newest attempt (0 is the newest); ok is false
	// when the counter has fewer (or they were swept).
	At(i int) (a Attempt, ok bool, err error)
	// First returns up to n newest attempts, newest first.
	First(n int) ([]Attempt, error)
}

// RecentAttempts is how many of a tail's newest attempts a read gets
// without a lookup each.
const RecentAttempts = 64

// Appending is one attempt to add to the counter Key: Decide picks its
// kind from the counter's tail, or refuses with an error.
type Appending struct {
	Key    string
	Decide func(tail Tail, now time.Time) (string, error)
}
