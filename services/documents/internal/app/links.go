package app

import (
	"context"
	"sync"
	"time"
)

// maxCachedLinks bounds the links kept; past it they start over.
const maxCachedLinks = 20_000

// linkCache keeps the presigned GET of each object for half its life, so a
// list that is read again and again signs each link once per half-life
// instead of every time (a signature costs more than the rest of a listed
// document), while every link served still has at least half its life to
// run: 7½ minutes at the default 15, more than the 2 minutes (the profile
// service's LinkMargin) a phone is given to fetch a link it was shown.
type linkCache struct {
	mu    sync.Mutex
	links map[string]signedLink
}

type signedLink struct {
	url string
	at  time.Time // no later than the signature's own time
}

// link is a GET link to key that is valid for at least half of
// Limits.LinkTTL from now.
func (s *Service) link(ctx context.Context, key string) (string, error) {
	now, ttl := s.now(), s.Limits.LinkTTL
	s.links.mu.Lock()
	l, ok := s.links.links[key]
	s.links.mu.Unlock()
	// A clock that went back could make an old link look young.
	if ok && !now.Before(l.at) && now.Sub(l.at) < ttl/2 {
		return l.url, nil
	}
	u, err := s.Files.GetURL(ctx, key, ttl)
	if err != nil {
		return "", err
	}
	s.links.mu.Lock()
	defer s.links.mu.Unlock()
	if s.links.links == nil || len(s.links.links) >= maxCachedLinks {
		s.links.links = map[string]signedLink{}
	}
	s.links.links[key] = signedLink{url: u, at: now}
	return u, nil
}
