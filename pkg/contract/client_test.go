package contract

import "testing"

// Per-client limits count an IPv6 caller by its /64 and an IPv4 one by its
// address, whichever way the address is written.
func TestClientNetwork(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.9":               "203.0.113.9",
		"::ffff:203.0.113.9":        "203.0.113.9",
		"2001:db8:7:1::1":           "2001:db8:7:1::/64",
		"2001:db8:7:1:ffff:1:2:3":   "2001:db8:7:1::/64",
		"2001:0DB8:0007:0001::abcd": "2001:db8:7:1::/64",
		"fe80::1%eth0":              "fe80::/64",
		"2001:db8:7:2::1":           "2001:db8:7:2::/64",
		"":                          "",
		"not an address":            "not an address",
	} {
		if got := (Client{IP: ip}).Network(); got != want {
			t.Errorf("%q: %q, want %q", ip, got, want)
		}
	}
}
