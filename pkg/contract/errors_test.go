package contract

import (
	"encoding/json"
	"slices"
	"testing"
)

// The code shown is always of the set and never contradicts the status: a
// reason of another kind, or one outside the set (a newer service, a typo),
// falls back to the kind's generic code.
func TestPublicReason(t *testing.T) {
	kinds := []Code{Invalid, Unauthenticated, Forbidden, NotFound, Conflict, RateLimited, TooLarge, UnsupportedMedia, Unavailable, Internal, "bogus"}
	for _, k := range kinds {
		for _, r := range append(Reasons(), "", "made_up") {
			got := (&Error{Code: k, Reason: r}).PublicReason()
			if !slices.Contains(Reasons(), got) {
				t.Errorf("%s/%s → %q, not in the set", k, r, got)
			}
			want := DefaultReason(k)
			for _, e := range reasons {
				if e.reason == r && e.kind == k {
					want = r
				}
			}
			if got != want {
				t.Errorf("%s/%s → %q, want %q", k, r, got, want)
			}
		}
	}
	for _, tc := range []struct {
		err  *Error
		want Reason
	}{
		{FieldError("pin", "x"), ReasonValidationFailed},
		{RateLimitedFor(3, "x").Because(ReasonPINLocked), ReasonPINLocked},
		{RateLimitedFor(3, "x").Because(ReasonOTPExpired), ReasonRateLimited}, // an Invalid reason on a 429
		{AsError(json.Unmarshal([]byte("{"), new(any))), ReasonInternal},
	} {
		if got := tc.err.PublicReason(); got != tc.want {
			t.Errorf("%v → %q, want %q", tc.err, got, tc.want)
		}
	}
}

// The reason crosses the wire in the error body and comes back as it was.
func TestReasonSurvivesJSON(t *testing.T) {
	b, err := json.Marshal(RateLimitedFor(5, "wait").Because(ReasonOTPSendTooSoon))
	if err != nil {
		t.Fatal(err)
	}
	var back Error
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Code != RateLimited || back.Reason != ReasonOTPSendTooSoon || back.RetryAfter != 5 {
		t.Fatalf("%s → %+v", b, back)
	}
}

func TestReasonsClosedAndUnique(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if seen[r] || r == "" {
			t.Errorf("%q twice or empty", r)
		}
		seen[r] = true
	}
	for _, k := range []Code{Invalid, Unauthenticated, Forbidden, NotFound, Conflict, RateLimited, TooLarge, UnsupportedMedia, Unavailable, Internal} {
		if !seen[DefaultReason(k)] {
			t.Errorf("the generic code of %s is not in the set", k)
		}
	}
}
