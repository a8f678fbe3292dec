// SPDX-License-Identifier: MIT

package accessdb

import (
	"strings"
	"testing"
)

// FuzzParseRHS checks that any value parses, formats a reply in every
// check, and that the token model is stable (joining tokens and reading
// them again gives the same tokens).
func FuzzParseRHS(f *testing.F) {
	for _, s := range []string{"OK", "REJECT   ", "ERROR:5.7.1:550 x", `ERROR:"550 a  b"`, "QUARANTINE:r", "a<TMPF>", "OK # c", "550 5.7.1 x", `"\`} {
		f.Add(s)
	}
	c := &Checker{Skip: true}
	f.Fuzz(func(t *testing.T, v string) {
		r := ParseRHS(v)
		if r.Value != v {
			t.Fatalf("Value %q != input %q", r.Value, v)
		}
		for _, ch := range []Check{CheckRelay, CheckMail, CheckRcpt} {
			reply, ok := c.Reply(ch, r, "<a@b>")
			if ok && (len(reply) < 4 || reply[3] != ' ') {
				t.Fatalf("reply %q for %q has no code", reply, v)
			}
		}
		j := join(tokenize(v))
		if j2 := join(tokenize(j)); j2 != j {
			t.Fatalf("join not stable: %q -> %q -> %q", v, j, j2)
		}
		if r.Kind != TempFail && ParseRHS(j).Kind != r.Kind {
			t.Fatalf("kind changed after re-joining %q: %v -> %v", v, r.Kind, ParseRHS(j).Kind)
		}
	})
}

// FuzzAddressWalks runs every lookup sequence on arbitrary names and
// addresses: each must end, and try a bounded number of keys, all
// carrying the tag or the item.
func FuzzAddressWalks(f *testing.F) {
	for _, s := range [][2]string{
		{"client.test.example", "127.0.0.21"},
		{"[IPv6:2001:db8::1]", "IPv6:2001:db8:0:0:0:0:0:1"},
		{"<user+ext@sub.example.>", "user"},
		{"a..b", "::"},
		{"[1.2.]", "1.2..3"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		rm := &recMap{m: NewMemMap(nil)}
		c := &Checker{Map: rm, Skip: true, LookupDotDomain: true}
		limit := 8*(len(a)+len(b)) + 40
		calls := []func() (Result, error){
			func() (Result, error) { return c.Connect(a, b) },
			func() (Result, error) { return c.From(a) },
			func() (Result, error) { return c.ToBlocklist(a, true) },
			func() (Result, error) { return c.Spam(b, true) },
			func() (Result, error) { return c.GreetPause(a, b) },
			func() (Result, error) { return c.ClientRate(b) },
			func() (Result, error) { return c.Features(TagTLSClt, a, b) },
			func() (Result, error) { return c.TLSRcpt(a) },
		}
		for _, call := range calls {
			rm.keys = nil
			r, err := call()
			if err != nil || r.Found {
				t.Fatalf("empty map: %+v %v", r, err)
			}
			if len(rm.keys) > limit {
				t.Fatalf("%d keys for %q %q", len(rm.keys), a, b)
			}
		}
		local, domain := SplitAddress(a)
		if strings.Contains(domain, "@") || (domain != "" && strings.HasSuffix(domain, ".")) {
			t.Fatalf("SplitAddress(%q) = %q %q", a, local, domain)
		}
	})
}
