package mongox

import (
	"hash/fnv"
	"sync"
)

// stripes serialises writers of one key inside this process. The store
// still settles races between processes (the unique insert of the next
// number), but a hot key, such as one client address or one email
// everybody is registering at once, no longer makes N local writers retry
// N times each: they take turns and each succeeds at its first insert.
type stripes [64]sync.Mutex

func (s *stripes) lock(key string) func() { return s.lockAll(key) }

// lockAll takes the stripes of several keys, in one order whoever asks,
// so two writers of the same keys cannot each hold what the other waits for.
func (s *stripes) lockAll(keys ...string) func() {
	var held [len(stripes{})]bool
	for _, key := range keys {
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		held[h.Sum32()%uint32(len(s))] = true
	}
	for i, take := range held {
		if take {
			s[i].Lock()
		}
	}
	return func() {
		for i, take := range held {
			if take {
				s[i].Unlock()
			}
		}
	}
}
