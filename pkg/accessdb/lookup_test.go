// SPDX-License-Identifier: MIT

package accessdb

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recMap records every key the rules ask the map for.
type recMap struct {
	m    Map
	keys []string
	fail map[string]bool // keys whose lookup fails temporarily
}

func (r *recMap) Lookup(key string) (string, bool, error) {
	r.keys = append(r.keys, key)
	if r.fail[key] {
		return "", false, errors.New("map unavailable")
	}
	return r.m.Lookup(key)
}

func newChecker(entries map[string]string) (*Checker, *recMap) {
	rm := &recMap{m: NewMemMap(entries)}
	return &Checker{Map: rm, Skip: true, TempFail: true}, rm
}

// TestWalks asserts the exact key sequences of §3 of the reference, with
// nothing in the map (the whole walk) and with a hit that ends it.
func TestWalks(t *testing.T) {
	tests := []struct {
		name    string
		entries map[string]string
		run     func(c *Checker) (Result, error)
		keys    []string
		key     string // key of the hit, "" for none
		kind    Kind
	}{
		{
			name: "A IPv4 tagged and untagged",
			run:  func(c *Checker) (Result, error) { return c.Addr(TagConnect, "10.1.2.3", false) },
			keys: []string{"Connect:10.1.2.3", "10.1.2.3", "Connect:10.1.2", "10.1.2", "Connect:10.1", "10.1", "Connect:10", "10"},
		},
		{
			name: "A IPv4 tag only",
			run:  func(c *Checker) (Result, error) { return c.Addr(TagClientRate, "10.1.2.3", true) },
			keys: []string{"ClientRate:10.1.2.3", "ClientRate:10.1.2", "ClientRate:10.1", "ClientRate:10"},
		},
		{
			name:    "A hit on /16 ends the walk",
			entries: map[string]string{"connect:10.1": "REJECT", "10": "OK"},
			run:     func(c *Checker) (Result, error) { return c.Addr(TagConnect, "10.1.2.3", false) },
			keys:    []string{"Connect:10.1.2.3", "10.1.2.3", "Connect:10.1.2", "10.1.2", "Connect:10.1"},
			key:     "Connect:10.1", kind: Reject,
		},
		{
			name:    "A untagged hit",
			entries: map[string]string{"127.0.0.21": "RELAY"},
			run:     func(c *Checker) (Result, error) { return c.Addr(TagConnect, "127.0.0.21", false) },
			keys:    []string{"Connect:127.0.0.21", "127.0.0.21"},
			key:     "127.0.0.21", kind: Relay,
		},
		{
			name: "A IPv6 full form drops one group at a time",
			run:  func(c *Checker) (Result, error) { return c.Addr(TagConnect, "IPv6:2001:db8:0:0:0:0:0:1", true) },
			keys: []string{
				"Connect:IPv6:2001:db8:0:0:0:0:0:1", "Connect:IPv6:2001:db8:0:0:0:0:0",
				"Connect:IPv6:2001:db8:0:0:0:0", "Connect:IPv6:2001:db8:0:0:0", "Connect:IPv6:2001:db8:0:0",
				"Connect:IPv6:2001:db8:0", "Connect:IPv6:2001:db8", "Connect:IPv6:2001", "Connect:IPv6",
			},
		},
		{
			name: "A compressed IPv6 drops ::group",
			run:  func(c *Checker) (Result, error) { return c.Addr(TagConnect, "IPv6:2001:db8::1", true) },
			keys: []string{"Connect:IPv6:2001:db8::1", "Connect:IPv6:2001:db8", "Connect:IPv6:2001", "Connect:IPv6"},
		},
		{
			name: "A loopback IPv6 compressed",
			run:  func(c *Checker) (Result, error) { return c.Addr(TagConnect, "IPv6:::1", true) },
			keys: []string{"Connect:IPv6:::1", "Connect:IPv6:"},
		},
		{
			name:    "A compressed key never matches a full-form address",
			entries: map[string]string{"Connect:IPv6:2001:db8::1": "REJECT"},
			run:     func(c *Checker) (Result, error) { return c.Addr(TagConnect, "IPv6:2001:db8:0:0:0:0:0:1", true) },
			keys: []string{
				"Connect:IPv6:2001:db8:0:0:0:0:0:1", "Connect:IPv6:2001:db8:0:0:0:0:0",
				"Connect:IPv6:2001:db8:0:0:0:0", "Connect:IPv6:2001:db8:0:0:0", "Connect:IPv6:2001:db8:0:0",
				"Connect:IPv6:2001:db8:0", "Connect:IPv6:2001:db8", "Connect:IPv6:2001", "Connect:IPv6",
			},
		},
		{
			name:    "A SKIP stops the walk as not found",
			entries: map[string]string{"Connect:127.0.0.21": "SKIP", "Connect:127.0.0": "REJECT"},
			run:     func(c *Checker) (Result, error) { return c.Addr(TagConnect, "127.0.0.21", false) },
			keys:    []string{"Connect:127.0.0.21"},
		},
		{
			name: "D host and parent domains",
			run:  func(c *Checker) (Result, error) { return c.Domain(TagConnect, "host.sub.example", false) },
			keys: []string{"Connect:host.sub.example", "host.sub.example", "Connect:sub.example", "sub.example", "Connect:example", "example"},
		},
		{
			name:    "D parent hit",
			entries: map[string]string{"Connect:Test.Example": "OK"},
			run:     func(c *Checker) (Result, error) { return c.Domain(TagConnect, "client.test.example", false) },
			keys:    []string{"Connect:client.test.example", "client.test.example", "Connect:test.example"},
			key:     "Connect:test.example", kind: OK,
		},
		{
			name: "D tag only",
			run:  func(c *Checker) (Result, error) { return c.Domain(TagGreetPause, "a.b", true) },
			keys: []string{"GreetPause:a.b", "GreetPause:b"},
		},
		{
			name: "D address literal keeps its brackets",
			run:  func(c *Checker) (Result, error) { return c.Domain(TagConnect, "[1.2.3.4]", false) },
			keys: []string{"Connect:[1.2.3.4]", "[1.2.3.4]", "Connect:[1.2.3]", "[1.2.3]", "Connect:[1.2]", "[1.2]", "Connect:[1]", "[1]"},
		},
		{
			name: "D IPv6 literal",
			run:  func(c *Checker) (Result, error) { return c.Domain(TagConnect, "[IPv6:2001:db8:0:0:0:0:0:1]", true) },
			keys: []string{
				"Connect:[IPv6:2001:db8:0:0:0:0:0:1]", "Connect:[IPv6:2001:db8:0:0:0:0:0]",
				"Connect:[IPv6:2001:db8:0:0:0:0]", "Connect:[IPv6:2001:db8:0:0:0]", "Connect:[IPv6:2001:db8:0:0]",
				"Connect:[IPv6:2001:db8:0]", "Connect:[IPv6:2001:db8]", "Connect:[IPv6:2001]", "Connect:[IPv6]",
			},
		},
		{
			name: "D IPv6 literal with ::",
			run:  func(c *Checker) (Result, error) { return c.Domain(TagConnect, "[IPv6:2001:db8::1]", true) },
			keys: []string{"Connect:[IPv6:2001:db8::1]", "Connect:[IPv6:2001:db8]", "Connect:[IPv6:2001]", "Connect:[IPv6]"},
		},
		{
			name:    "D SKIP on host stops before the parents",
			entries: map[string]string{"host.example": "skip", "Connect:example": "REJECT"},
			run:     func(c *Checker) (Result, error) { return c.Domain(TagConnect, "host.example", false) },
			keys:    []string{"Connect:host.example", "host.example"},
		},
		{
			name: "D empty item looks up the bare tag",
			run:  func(c *Checker) (Result, error) { return c.Domain(TagSrvFeatures, "", true) },
			keys: []string{"Srv_Features:"},
		},
		{
			name: "F full address with +detail",
			run:  func(c *Checker) (Result, error) { return c.Full(TagFrom, "user+ext@dom", false) },
			keys: []string{"From:user+ext@dom", "user+ext@dom", "From:user+*@dom", "user+*@dom", "From:user@dom", "user@dom"},
		},
		{
			name: "F without detail",
			run:  func(c *Checker) (Result, error) { return c.Full(TagFrom, "user@dom", false) },
			keys: []string{"From:user@dom", "user@dom"},
		},
		{
			name: "F empty detail",
			run:  func(c *Checker) (Result, error) { return c.Full(TagSpam, "user+@dom", true) },
			keys: []string{"Spam:user+@dom", "Spam:user+*@dom", "Spam:user@dom"},
		},
		{
			name: "F leading plus is not a detail",
			run:  func(c *Checker) (Result, error) { return c.Full(TagSpam, "+x@dom", true) },
			keys: []string{"Spam:+x@dom"},
		},
		{
			name: "U local part",
			run:  func(c *Checker) (Result, error) { return c.User(TagFrom, "user+ext@", false) },
			keys: []string{"From:user+ext@", "user+ext@", "From:user+*@", "user+*@", "From:user@", "user@"},
		},
		{
			name: "U adds the trailing @",
			run:  func(c *Checker) (Result, error) { return c.User(TagFrom, "user", false) },
			keys: []string{"From:user@", "user@"},
		},
		{
			name:    "U hit on user+*@",
			entries: map[string]string{"user+*@": "DISCARD"},
			run:     func(c *Checker) (Result, error) { return c.User(TagFrom, "user+ext@", false) },
			keys:    []string{"From:user+ext@", "user+ext@", "From:user+*@", "user+*@"},
			key:     "user+*@", kind: Discard,
		},
		{
			name: "E exact and empty default",
			run:  func(c *Checker) (Result, error) { return c.Exact(TagClientRate, "", true) },
			keys: []string{"ClientRate:"},
		},
		{
			name: "E untagged only for a non-empty item",
			run:  func(c *Checker) (Result, error) { return c.Exact(TagTo, "x", false) },
			keys: []string{"To:x", "x"},
		},
		{
			name: "Connect: name before address",
			run:  func(c *Checker) (Result, error) { return c.Connect("client.test.example", "127.0.0.21") },
			keys: []string{
				"Connect:client.test.example", "client.test.example", "Connect:test.example", "test.example",
				"Connect:example", "example",
				"Connect:127.0.0.21", "127.0.0.21", "Connect:127.0.0", "127.0.0", "Connect:127.0", "127.0", "Connect:127", "127",
			},
		},
		{
			name:    "Connect: a name REJECT beats an address OK",
			entries: map[string]string{"Connect:127.0.0.21": "OK", "Connect:test.example": "REJECT"},
			run:     func(c *Checker) (Result, error) { return c.Connect("client.test.example", "127.0.0.21") },
			keys:    []string{"Connect:client.test.example", "client.test.example", "Connect:test.example"},
			key:     "Connect:test.example", kind: Reject,
		},
		{
			name:    "Connect: [ip] name does not match the address key",
			entries: map[string]string{"Connect:127.0.0.21": "REJECT"},
			run:     func(c *Checker) (Result, error) { return c.Connect("[127.0.0.21]", "127.0.0.21") },
			keys: []string{
				"Connect:[127.0.0.21]", "[127.0.0.21]", "Connect:[127.0.0]", "[127.0.0]", "Connect:[127.0]", "[127.0]",
				"Connect:[127]", "[127]", "Connect:127.0.0.21",
			},
			key: "Connect:127.0.0.21", kind: Reject,
		},
		{
			name: "Connect: no name",
			run:  func(c *Checker) (Result, error) { return c.Connect("", "10.0.0.1") },
			keys: []string{"Connect:10.0.0.1", "10.0.0.1", "Connect:10.0.0", "10.0.0", "Connect:10.0", "10.0", "Connect:10", "10"},
		},
		{
			name: "Connect: no address, no lookup",
			run:  func(c *Checker) (Result, error) { return c.Connect("host.example", "") },
		},
		{
			name: "From: F U D",
			run:  func(c *Checker) (Result, error) { return c.From("<user+x@Mail.Example.>") },
			keys: []string{
				"From:user+x@Mail.Example", "user+x@Mail.Example", "From:user+*@Mail.Example", "user+*@Mail.Example",
				"From:user@Mail.Example", "user@Mail.Example",
				"From:user+x@", "user+x@", "From:user+*@", "user+*@", "From:user@", "user@",
				"From:Mail.Example", "Mail.Example", "From:Example", "Example",
			},
		},
		{
			name: "From: unqualified sender gets U only",
			run:  func(c *Checker) (Result, error) { return c.From("<user>") },
			keys: []string{"From:user@", "user@"},
		},
		{
			name: "From: null sender is not looked up",
			run:  func(c *Checker) (Result, error) { return c.From("<>") },
		},
		{
			name:    "From: user@ hit before the domain",
			entries: map[string]string{"From:user@": `ERROR:"553 Bogus sender"`, "From:example.net": "DISCARD"},
			run:     func(c *Checker) (Result, error) { return c.From("user@example.net") },
			keys:    []string{"From:user@example.net", "user@example.net", "From:user@"},
			key:     "From:user@", kind: Error,
		},
		{
			name: "To: relay test is a D walk",
			run:  func(c *Checker) (Result, error) { return c.ToRelay("relayto.example") },
			keys: []string{"To:relayto.example", "relayto.example", "To:example", "example"},
		},
		{
			name: "To: blocklist local domain F U D",
			run:  func(c *Checker) (Result, error) { return c.ToBlocklist("bad@hamap.local", true) },
			keys: []string{"To:bad@hamap.local", "bad@hamap.local", "To:bad@", "bad@", "To:hamap.local", "hamap.local", "To:local", "local"},
		},
		{
			name: "To: blocklist remote domain F D",
			run:  func(c *Checker) (Result, error) { return c.ToBlocklist("bad@remote.example", false) },
			keys: []string{"To:bad@remote.example", "bad@remote.example", "To:remote.example", "remote.example", "To:example", "example"},
		},
		{
			name: "To: blocklist without domain",
			run:  func(c *Checker) (Result, error) { return c.ToBlocklist("bad", true) },
			keys: []string{"To:bad@", "bad@"},
		},
		{
			name: "Spam: F D U tag only",
			run:  func(c *Checker) (Result, error) { return c.Spam("abuse@hamap.local", true) },
			keys: []string{"Spam:abuse@hamap.local", "Spam:hamap.local", "Spam:local", "Spam:abuse@"},
		},
		{
			name:    "Spam: FRIEND",
			entries: map[string]string{"Spam:abuse@": "FRIEND"},
			run:     func(c *Checker) (Result, error) { return c.Spam("abuse@hamap.local", true) },
			keys:    []string{"Spam:abuse@hamap.local", "Spam:hamap.local", "Spam:local", "Spam:abuse@"},
			key:     "Spam:abuse@", kind: Friend,
		},
		{
			name: "Spam: remote recipient has no U",
			run:  func(c *Checker) (Result, error) { return c.Spam("x@remote.example", false) },
			keys: []string{"Spam:x@remote.example", "Spam:remote.example", "Spam:example"},
		},
		{
			name: "GreetPause: D then A, tag only, no bare default",
			run:  func(c *Checker) (Result, error) { return c.GreetPause("client.test.example", "127.0.0.21") },
			keys: []string{
				"GreetPause:client.test.example", "GreetPause:test.example", "GreetPause:example",
				"GreetPause:127.0.0.21", "GreetPause:127.0.0", "GreetPause:127.0", "GreetPause:127",
			},
		},
		{
			name: "ClientRate: A then the bare default",
			run:  func(c *Checker) (Result, error) { return c.ClientRate("10.0.0.5") },
			keys: []string{"ClientRate:10.0.0.5", "ClientRate:10.0.0", "ClientRate:10.0", "ClientRate:10", "ClientRate:"},
		},
		{
			name:    "ClientConn: default entry",
			entries: map[string]string{"ClientConn:": "10"},
			run:     func(c *Checker) (Result, error) { return c.ClientConn("10.0.0.5") },
			keys:    []string{"ClientConn:10.0.0.5", "ClientConn:10.0.0", "ClientConn:10.0", "ClientConn:10", "ClientConn:"},
			key:     "ClientConn:", kind: Text,
		},
		{
			name: "Srv_Features: D A E",
			run:  func(c *Checker) (Result, error) { return c.Features(TagSrvFeatures, "h.example", "10.0.0.5") },
			keys: []string{
				"Srv_Features:h.example", "Srv_Features:example",
				"Srv_Features:10.0.0.5", "Srv_Features:10.0.0", "Srv_Features:10.0", "Srv_Features:10", "Srv_Features:",
			},
		},
		{
			name: "TLS_Rcpt: F U D E",
			run:  func(c *Checker) (Result, error) { return c.TLSRcpt("u@d.example") },
			keys: []string{"TLS_Rcpt:u@d.example", "TLS_Rcpt:u@", "TLS_Rcpt:d.example", "TLS_Rcpt:example", "TLS_Rcpt:"},
		},
		{
			name:    "value ? reads as not found",
			entries: map[string]string{"Connect:10.0.0.1": " ? ", "10.0.0": "OK"},
			run:     func(c *Checker) (Result, error) { return c.Addr(TagConnect, "10.0.0.1", false) },
			keys:    []string{"Connect:10.0.0.1", "10.0.0.1", "Connect:10.0.0", "10.0.0"},
			key:     "10.0.0", kind: OK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rm := newChecker(tt.entries)
			r, err := tt.run(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.keys, rm.keys); diff != "" {
				t.Errorf("keys tried (-want +got):\n%s", diff)
			}
			if r.Found != (tt.key != "") || r.Key != tt.key {
				t.Errorf("hit = %v %q, want %q", r.Found, r.Key, tt.key)
			}
			if r.Found && r.RHS.Kind != tt.kind {
				t.Errorf("kind = %v, want %v", r.RHS.Kind, tt.kind)
			}
		})
	}
}

func TestLookupDotDomain(t *testing.T) {
	c, rm := newChecker(map[string]string{"To:.example": "RELAY"})
	c.LookupDotDomain = true
	r, err := c.ToRelay("a.b.example")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"To:a.b.example", "a.b.example", "To:.b.example", ".b.example",
		"To:b.example", "b.example", "To:.example",
	}
	if diff := cmp.Diff(want, rm.keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if r.Key != "To:.example" || r.RHS.Kind != Relay {
		t.Errorf("result %+v", r)
	}
}

func TestSkipFeatureOff(t *testing.T) {
	c, rm := newChecker(map[string]string{"Connect:127.0.0.21": "SKIP", "Connect:127.0.0": "REJECT"})
	c.Skip = false
	r, err := c.Addr(TagConnect, "127.0.0.21", false)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || r.RHS.Kind != Skip || len(rm.keys) != 1 {
		t.Fatalf("without the skip feature SKIP is a hit: %+v, keys %q", r, rm.keys)
	}
	reply, ok := c.Reply(CheckRelay, r.RHS, "")
	if !ok || reply != "553 5.3.0 SKIP" {
		t.Errorf("reply %q %v", reply, ok)
	}
}

func TestTempFail(t *testing.T) {
	c, rm := newChecker(map[string]string{"Connect:10.1": "OK"})
	rm.fail = map[string]bool{"10.1.2": true}
	r, err := c.Addr(TagConnect, "10.1.2.3", false)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Found: true, Key: "10.1.2", RHS: RHS{Kind: TempFail, Value: "<TMPF>"}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	reply, _ := c.Reply(CheckRelay, r.RHS, "<a@b>")
	if reply != "451 4.3.0 Temporary system failure. Please try again later." {
		t.Errorf("reply %q", reply)
	}
	c.TempFail = false
	if _, err := c.Addr(TagConnect, "10.1.2.3", false); err == nil {
		t.Error("without -T<TMPF> a map failure must be an error")
	}
}
