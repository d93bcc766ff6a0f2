package app

import (
	"testing"

	"github.com/dossapp/backend/pkg/contract"
)

func TestIdentityStatus(t *testing.T) {
	const (
		p = contract.DocumentPending
		a = contract.DocumentApproved
		r = contract.DocumentRejected
	)
	docs := func(pairs ...any) []contract.DocumentRef {
		var out []contract.DocumentRef
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, contract.DocumentRef{TypeID: pairs[i].(int), Status: pairs[i+1].(string)})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		docs []contract.DocumentRef
		want string
	}{
		{"nothing", nil, contract.IdentityUnverified},
		{"one side pending", docs(1, p), contract.IdentityPending},
		{"one side approved, other missing", docs(1, a), contract.IdentityUnverified},
		{"both sides of the ID approved", docs(1, a, 2, a), contract.IdentityVerified},
		{"passport approved, licence rejected", docs(3, a, 4, a, 5, r), contract.IdentityVerified},
		{"front approved, back pending", docs(1, a, 2, p), contract.IdentityPending},
		{"every type rejected", docs(1, r, 4, r), contract.IdentityRejected},
		{"one rejected, one approved", docs(1, r, 2, a), contract.IdentityUnverified},
		{"sides of different documents approved", docs(1, a, 4, a), contract.IdentityUnverified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IdentityStatus(tc.docs); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
