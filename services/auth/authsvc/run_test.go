package authsvc

import (
	"strings"
	"testing"
)

// A failure cap larger than one failure-chain entry can carry would never
// refuse: the service does not start with one.
func TestAFailureCapTheChainCannotCountIsRefused(t *testing.T) {
	env := map[string]string{"DOSS_ENV": "dev", "DOSS_OTP_FAILURES_PER_DAY": "15"}
	getenv := func(k string) string { return env[k] }
	if _, err := readSettings(getenv); err == nil || !strings.Contains(err.Error(), "DOSS_OTP_FAILURES_PER_DAY") {
		t.Fatalf("15 failures a day: %v", err)
	}
	env["DOSS_OTP_FAILURES_PER_DAY"] = "14"
	if _, err := readSettings(getenv); err != nil {
		t.Fatalf("14 failures a day: %v", err)
	}
}
