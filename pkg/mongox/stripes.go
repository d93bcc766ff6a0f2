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

func (s *stripes) lock(key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	m := &s[h.Sum32()%uint32(len(s))]
	m.Lock()
	return m.Unlock
}
