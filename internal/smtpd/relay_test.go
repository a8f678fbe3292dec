// SPDX-License-Identifier: MIT

package smtpd

import (
	"strings"
	"testing"
)

// A relay probe is a classic open-relay trick (sendmail-access.md §8):
// what an unauthorised client gets, and whether a trusted client may
// use the address.
type relayProbe struct {
	rcpt string
	// kind: "deny" (Relaying denied for the untrusted client, relayed for
	// the trusted one), "local" (a local recipient for both), "route"
	// (553 Invalid route address for both).
	kind string
}

var relayProbes = []relayProbe{
	{"user@remote.example", "deny"},
	{"user@remote.example.", "deny"},
	{"user@REMOTE.EXAMPLE", "deny"},
	{"user%remote.example@hamap.local", "deny"},
	{"user%remote.example", "deny"},
	{"user%remote.example%hamap.local@hamap.local", "deny"},
	{`"user@remote.example"@hamap.local`, "deny"},
	{`"user%remote.example"@hamap.local`, "deny"},
	{`"user@remote.example"`, "deny"},
	{"@hamap.local:user@remote.example", "deny"},
	{"@mail.hamap.local,@hamap.local:user@remote.example", "deny"},
	{"remote.example!user@hamap.local", "deny"},
	{"remote.example!user", "deny"},
	{"user@[192.0.2.25]", "deny"},
	{"user@[127.0.0.99]", "deny"},
	{"user@[IPv6:::1]", "deny"},
	{"user@sub.hamap.local", "deny"},
	{"user@hamap.local.remote.example", "deny"},
	{"user@localhost.localdomain", "deny"},
	{"user%remote.example@mail.hamap.local", "deny"},
	{"remote.example!user%hamap.local@hamap.local", "deny"},
	{`"user%remote.example@hamap.local"`, "deny"},
	{"@[127.0.0.1]:user@remote.example", "deny"},
	{"user%remote.example.@hamap.local", "deny"},
	{"USER%REMOTE.EXAMPLE@HAMAP.LOCAL.", "deny"},
	{"user@hamap.local@remote.example", "route"},
	{"user@remote.example@hamap.local", "route"},
	{"root@hamap.local.", "local"},
	{"root@mail.hamap.local", "local"},
	{"root@localhost", "local"},
	{"root", "local"},
	{"ROOT@HAMAP.LOCAL", "local"},
	{"@remote.example:root@hamap.local", "local"},
	{"root%hamap.local@hamap.local", "local"},
	{"hamap.local!root@hamap.local", "local"},
	{"postmaster", "local"},
}

// TestOpenRelayBattery sends every probe from an untrusted client and a
// trusted one, then DATA, and checks what was queued: the untrusted
// client relays nothing, the trusted one everything legitimate.
func TestOpenRelayBattery(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, who := range []struct {
		name, src string
		trusted   bool
	}{{"untrusted", untrustedIP, false}, {"trusted", trustedIP, true}} {
		t.Run(who.name, func(t *testing.T) {
			before := len(e.spool.Messages())
			c := e.dial(t, who.src)
			c.reply()
			c.cmd("EHLO probe")
			if r := c.cmd("MAIL FROM:<user@sender.example>"); !strings.HasPrefix(r, "250 ") {
				t.Fatalf("MAIL: %q", r)
			}
			accepted := 0
			for _, p := range relayProbes {
				echo := "<" + p.rcpt + ">"
				got := c.cmd("RCPT TO:" + echo)
				var want string
				switch {
				case p.kind == "route":
					want = "553 5.1.3 " + echo + "... Invalid route address"
				case p.kind == "deny" && !who.trusted:
					want = "550 5.7.1 " + echo + "... Relaying denied. IP name lookup failed [" + untrustedIP + "]"
				default:
					if !strings.HasPrefix(got, "250 2.1.5 <") || !strings.HasSuffix(got, ">... Recipient ok") {
						t.Errorf("RCPT %s: got %q, want acceptance", echo, got)
					}
					accepted++
					continue
				}
				if got != want {
					t.Errorf("RCPT %s:\n got %q\nwant %q", echo, got, want)
				}
			}
			if r := c.cmd("DATA"); !strings.HasPrefix(r, "354 ") {
				t.Fatalf("DATA: %q", r)
			}
			if r := c.cmd("Subject: probe\r\n\r\nbody\r\n."); !strings.HasPrefix(r, "250 2.0.0 ") {
				t.Fatalf("end of data: %q", r)
			}
			msgs := e.spool.Messages()
			if len(msgs) != before+1 {
				t.Fatalf("spool: %d new messages", len(msgs)-before)
			}
			remote := 0
			for _, r := range msgs[len(msgs)-1].Env.Rcpts {
				if !r.Local {
					remote++
					if !who.trusted {
						t.Errorf("untrusted client queued a remote recipient: %+v", r)
					}
				}
			}
			if who.trusted && remote == 0 {
				t.Error("trusted client could not relay at all")
			}
			if accepted == 0 {
				t.Error("no recipient accepted")
			}
		})
	}
}

func TestFinalHop(t *testing.T) {
	ours := func(d string) bool { d = strings.ToLower(d); return d == "hamap.local" || d == "mail.hamap.local" }
	cases := []struct{ local, domain, wantLocal, wantDomain string }{
		{"user%remote.example", "hamap.local", "user", "remote.example"},
		{"user%a%b", "hamap.local", "user%a", "b"},
		{"a!b!user", "hamap.local", "b!user", "a"},
		{`"user@remote.example"`, "hamap.local", "user", "remote.example"},
		{"user%remote.example", "other.example", "user%remote.example", "other.example"},
		{"root", "hamap.local", "root", "hamap.local"},
		{"root%hamap.local", "hamap.local", "root", "hamap.local"},
		{"user%remote.example", "", "user", "remote.example"},
	}
	for _, c := range cases {
		t.Run(c.local+"@"+c.domain, func(t *testing.T) {
			l, d := finalHop(c.local, c.domain, ours)
			if l != c.wantLocal || d != c.wantDomain {
				t.Errorf("finalHop = %q, %q; want %q, %q", l, d, c.wantLocal, c.wantDomain)
			}
		})
	}
}
