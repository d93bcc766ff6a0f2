package contract

import (
	"slices"
	"strings"
	"testing"
)

// Every reader a bus user owns says what it reads, every reader has one
// owner, and each of its consumers may be created only with its own filter.
func TestEveryReaderHasOneOwnerAndPinnedConsumers(t *testing.T) {
	owner := map[string]string{}
	for _, u := range BusUsers {
		pub, _ := u.Permissions()
		for _, d := range u.Durables {
			if other, ok := owner[d]; ok {
				t.Errorf("reader %s belongs to %s and %s", d, other, u.Name)
			}
			owner[d] = u.Name
			types := ReaderEvents(d)
			if len(types) == 0 {
				t.Errorf("%s's reader %s reads nothing in the contract", u.Name, d)
			}
			for i, c := range Consumers(d) {
				pinned := "$JS.API.CONSUMER.CREATE." + StreamEvents + "." + c + "." + EventSubject(types[i])
				if !slices.Contains(pub, pinned) {
					t.Errorf("%s may not create %s with its filter (%s)", u.Name, c, pinned)
				}
			}
		}
		for _, p := range pub {
			if strings.HasPrefix(p, "$JS.API.CONSUMER.") && strings.Contains(p, "."+StreamEvents+".") &&
				!strings.HasPrefix(p, "$JS.API.CONSUMER.CREATE.") && !strings.HasPrefix(p, "$JS.API.CONSUMER.INFO.") &&
				!strings.HasPrefix(p, "$JS.API.CONSUMER.MSG.NEXT.") {
				t.Errorf("%s may %s", u.Name, p)
			}
			if strings.HasPrefix(p, "$JS.API.CONSUMER.") && strings.Contains(p, "."+StreamEvents+".") && strings.ContainsAny(p, "*>") {
				t.Errorf("%s may reach consumers of the events by wildcard: %s", u.Name, p)
			}
			if rest, ok := strings.CutPrefix(p, "$JS.API.CONSUMER.CREATE."+StreamEvents+"."); ok {
				if _, filter, _ := strings.Cut(rest, "."); !strings.HasPrefix(filter, EventSubject("")) {
					t.Errorf("%s may create a consumer of the events without naming its filter: %s", u.Name, p)
				}
			}
		}
	}
	for d := range readers {
		if _, ok := owner[d]; !ok {
			t.Errorf("reader %s belongs to no bus user", d)
		}
	}
}
