// SPDX-License-Identifier: MIT

package imapd

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLoginReplies pins the pre-login texts against
// reference/dovecot-protocol.md §1 for secured (same IP) and not secured
// connections.
func TestLoginReplies(t *testing.T) {
	e := newEnv(t, "127.0.0.2", func(c *Config) { c.DisablePlaintextAuth = true; c.Clock = &fakeClock{now: time.Unix(1e9, 0)} })
	tests := []struct {
		name, from string
		cmds       []string
		want       []string
	}{
		{"insecure greeting and LOGIN", "127.0.0.1", []string{"LOGIN b " + passB}, []string{
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- LOGINDISABLED] Dovecot (Debian) ready.",
			"* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed.",
			"a1 NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
		}},
		{"insecure AUTHENTICATE", "127.0.0.1", []string{"AUTHENTICATE PLAIN AGIAYi1zZWNyZXQ="}, []string{
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- LOGINDISABLED] Dovecot (Debian) ready.",
			"a1 NO [PRIVACYREQUIRED] Plaintext authentication disabled.",
		}},
		{"secured CAPABILITY and LOGOUT", "127.0.0.2", []string{"CAPABILITY", "LOGOUT"}, []string{
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN] Dovecot (Debian) ready.",
			"* CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN",
			"a1 OK Pre-login capabilities listed, post-login capabilities have more.",
			"* BYE Logging out",
			"a2 OK Logout completed.",
		}},
		{"secured wrong password", "127.0.0.2", []string{"LOGIN b wrong"}, []string{
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN] Dovecot (Debian) ready.",
			"a1 NO [AUTHENTICATIONFAILED] Authentication failed.",
		}},
		{"secured AUTHENTICATE", "127.0.0.2", []string{"AUTHENTICATE PLAIN AGIAYi1zZWNyZXQ=", "NOOP"}, []string{
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN] Dovecot (Debian) ready.",
			"a1 OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE LITERAL+] Logged in",
			"a2 OK NOOP completed",
		}},
		{"secured login", "127.0.0.2", []string{"LOGIN b " + passB}, []string{
			"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN] Dovecot (Debian) ready.",
			"a1 OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE LITERAL+] Logged in",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := dial(t, e.addr, tc.from)
			got := []string{cl.greeting}
			for _, c := range tc.cmds {
				lines, st := cl.cmd(c)
				got = append(got, lines...)
				got = append(got, "a"+strconv.Itoa(cl.n)+" "+st)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("transcript (-want +got):\n%s", d)
			}
		})
	}
}

// TestAuthLOGIN: auth_mechanisms = plain login adds AUTH=LOGIN, served
// with Dovecot's challenges.
func TestAuthLOGIN(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.Mechanisms = []string{"plain", "login"} })
	cl := dial(t, e.addr, "")
	if want := "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready."; cl.greeting != want {
		t.Errorf("greeting %q, want %q", cl.greeting, want)
	}
	cl.n++
	cl.c.Write([]byte("a1 AUTHENTICATE LOGIN\r\n"))
	if l := cl.line(); l != "+ VXNlcm5hbWU6" {
		t.Fatalf("first challenge %q", l)
	}
	cl.c.Write([]byte("Yg==\r\n")) // b
	if l := cl.line(); l != "+ UGFzc3dvcmQ6" {
		t.Fatalf("second challenge %q", l)
	}
	cl.c.Write([]byte("Yi1zZWNyZXQ=\r\n")) // b-secret
	if _, st := cl.until("a1"); !strings.HasSuffix(st, "] Logged in") {
		t.Errorf("AUTHENTICATE LOGIN: %q", st)
	}
}

// TestFirstValidUID: a user below first_valid_uid logs in but the mail
// process refuses (dovecot-protocol.md §1, Login table).
func TestFirstValidUID(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.FirstValidUID = 1 << 30 })
	cl := dial(t, e.addr, "")
	_, st := cl.cmd("LOGIN b " + passB)
	if st != "OK Logged in, but initialization failed." {
		t.Errorf("LOGIN: %q", st)
	}
	if l, ok := cl.lineEOF(); l != "* BYE Internal error occurred. Refer to server log for more information." || !ok {
		t.Errorf("after LOGIN: %q", l)
	}
	if l, ok := cl.lineEOF(); ok {
		t.Errorf("connection still open: %q", l)
	}
}

// TestAuthPenalty checks Dovecot's delays per client address: 2, 6, 10,
// 17 s for the 1st..4th failure and 15 s before a correct login after
// four (dovecot-protocol.md, "Failed-login delay").
func TestAuthPenalty(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.Clock = clk })
	cl := dial(t, e.addr, "127.0.0.1")
	var got []time.Duration
	for _, pw := range []string{"w1", "w2", "w3", "w4"} {
		if _, st := cl.cmd("LOGIN b " + pw); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("LOGIN %s: %s", pw, st)
		}
		var sum time.Duration
		for _, d := range clk.take() {
			sum += d
		}
		got = append(got, sum)
	}
	// The same wrong password again does not raise the penalty.
	cl.cmd("LOGIN b w4")
	var same time.Duration
	for _, d := range clk.take() {
		same += d
	}
	cl.mustOK("LOGIN b " + passB)
	var ok time.Duration
	for _, d := range clk.take() {
		ok += d
	}
	want := []time.Duration{2 * time.Second, 6 * time.Second, 10 * time.Second, 17 * time.Second}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("failure delays (-want +got):\n%s", d)
	}
	if same != 17*time.Second {
		t.Errorf("repeated password delay = %v, want 17s", same)
	}
	if ok != 15*time.Second {
		t.Errorf("login after failures waited %v, want 15s", ok)
	}
	// After 30 s without failures the penalty is gone.
	cl2 := dial(t, e.addr, "127.0.0.1")
	clk.mu.Lock()
	clk.now = clk.now.Add(31 * time.Second)
	clk.mu.Unlock()
	cl2.cmd("LOGIN b nope")
	var fresh time.Duration
	for _, d := range clk.take() {
		fresh += d
	}
	if fresh != 2*time.Second {
		t.Errorf("delay after timeout = %v, want 2s", fresh)
	}
}
