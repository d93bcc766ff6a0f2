package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/dossapp/backend/services/auth/internal/app"
	"github.com/dossapp/backend/services/auth/internal/domain"
)

// Names runs the NameStore contract against the stores open returns, each
// empty.
func Names(t *testing.T, open func(t *testing.T) app.NameStore) {
	ctx := context.Background()
	get := func(t *testing.T, s app.NameStore, uuid string) domain.Names {
		t.Helper()
		n, err := s.Get(ctx, uuid)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	keep := func(t *testing.T, s app.NameStore, uuid string, n domain.Names, want bool) {
		t.Helper()
		kept, err := s.Keep(ctx, uuid, n)
		if err != nil || kept != want {
			t.Fatalf("keep %+v: kept %v, %v; want %v", n, kept, err, want)
		}
	}
	ada := domain.Names{FirstName: "Ada", LastName: "Lovelace", Version: 1}
	grace := domain.Names{FirstName: "Grace", LastName: "Hopper", Version: 2}
	// Each case keeps names in order (each step's want is whether Keep
	// reports them kept), then reads uuid "read".
	type step struct {
		uuid  string
		names domain.Names
		kept  bool
	}
	for _, c := range []struct {
		name  string
		steps []step
		read  string
		want  domain.Names
	}{
		{"none stored reads as none", nil, "u1", domain.Names{}},
		{"a newer version replaces", []step{{"u1", ada, true}, {"u1", grace, true}}, "u1", grace},
		{"an older version arriving late changes nothing", []step{{"u1", grace, true}, {"u1", ada, false}}, "u1", grace},
		{"a redelivery changes nothing", []step{{"u1", ada, true}, {"u1", ada, false},
			{"u1", domain.Names{FirstName: "Other", Version: 1}, false}}, "u1", ada},
		{"accounts are apart", []step{{"u1", ada, true}}, "u2", domain.Names{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			for _, st := range c.steps {
				keep(t, s, st.uuid, st.names, st.kept)
			}
			if n := get(t, s, c.read); n != c.want {
				t.Fatalf("%s reads %+v, want %+v", c.read, n, c.want)
			}
		})
	}
	t.Run("of many versions at once the highest stays", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for v := int64(1); v <= 8; v++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Keep(ctx, "u1", domain.Names{FirstName: "N", Version: v}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := get(t, s, "u1"); n.Version != 8 {
			t.Fatalf("%+v, want version 8", n)
		}
	})
	t.Run("erase forgets, twice is fine, and the account may start again", func(t *testing.T) {
		s := open(t)
		keep(t, s, "u1", grace, true)
		for range 2 {
			if err := s.Erase(ctx, "u1"); err != nil {
				t.Fatal(err)
			}
		}
		if n := get(t, s, "u1"); n != (domain.Names{}) {
			t.Fatalf("after erase: %+v", n)
		}
		keep(t, s, "u1", ada, true)
		if n := get(t, s, "u1"); n != ada {
			t.Fatalf("%+v", n)
		}
	})
}
