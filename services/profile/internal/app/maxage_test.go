package app

import (
	"testing"
	"time"
)

// An answer is kept no longer than its shortest-lived kind of link, less
// the margin a phone needs to fetch it; a link shorter than the margin
// keeps it not at all.
func TestMaxAgeFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttls []time.Duration
		want time.Duration
	}{
		{"the defaults: photo 1h, documents 15m", []time.Duration{time.Hour, 15 * time.Minute}, 13 * time.Minute},
		{"the shortest wins whatever the order", []time.Duration{10 * time.Minute, time.Hour}, 8 * time.Minute},
		{"a link shorter than the margin", []time.Duration{time.Hour, time.Minute}, 0},
		{"no links signed", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaxAgeFor(tc.ttls...); got != tc.want {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}
