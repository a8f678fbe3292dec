// SPDX-License-Identifier: MIT

package pop3d

import (
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one exchange of a dialog: a command ("" for none: read the
// greeting or a pending line) and the exact lines the server answers.
type step struct {
	send string
	want []string
}

var plainIR = base64.StdEncoding.EncodeToString([]byte("\x00b\x00pw"))

// TestPreLoginDialogs pins the pre-login texts dovecot-protocol.md §2
// recorded from Dovecot 2.3.19.1 (and the ones read in its source).
func TestPreLoginDialogs(t *testing.T) {
	capaSecured := []string{"+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "USER", "SASL PLAIN", "."}
	capaInsecure := []string{"+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "SASL", "."}
	capaAfterLogin := []string{"+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "."}
	for _, tc := range []struct {
		name     string
		insecure bool // client 127.0.0.1 -> server 127.0.0.2
		mod      func(*Config)
		steps    []step
	}{
		{name: "greeting-capa-secured", steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"CAPA", capaSecured},
			{"QUIT", []string{"+OK Logging out"}},
		}},
		{name: "login-greeting", mod: func(c *Config) { c.Greeting = "Hello there." }, steps: []step{
			{"", []string{"+OK Hello there."}},
		}},
		{name: "capa-not-secured", insecure: true, steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"CAPA", capaInsecure},
			{"USER b", []string{"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."}},
			{"PASS pw", []string{"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."}},
			{"AUTH PLAIN " + plainIR, []string{"-ERR [AUTH] Plaintext authentication disabled."}},
			{"QUIT", []string{"+OK Logging out"}},
		}},
		{name: "ssl-required", insecure: true, mod: func(c *Config) { c.SSL = "required"; c.AllowPlaintext = true }, steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"AUTH PLAIN " + plainIR, []string{"-ERR [AUTH] Authentication not allowed until SSL/TLS is enabled."}},
		}},
		{name: "plaintext-allowed", insecure: true, mod: func(c *Config) { c.AllowPlaintext = true }, steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"CAPA", capaSecured},
			{"USER b", []string{"+OK"}},
			{"PASS pw", []string{"+OK Logged in."}},
		}},
		{name: "wrong-password", steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"USER b", []string{"+OK"}},
			{"PASS wrong", []string{"-ERR [AUTH] Authentication failed."}},
			{"PASS pw", []string{"-ERR No username given."}},
			{"QUIT", []string{"+OK Logging out"}},
		}},
		{name: "too-many-bad", steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"FOO", []string{"-ERR Unknown command."}},
			{"NOOP", []string{"-ERR Unknown command."}},
			{"STAT", []string{"-ERR Unknown command.", "-ERR Too many invalid bad commands.", "<EOF>"}},
		}},
		{name: "stls-disabled", mod: func(c *Config) { c.TLS = nil; c.SSL = "no" }, steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"CAPA", []string{"+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN", "."}},
			{"STLS", []string{"-ERR TLS support isn't enabled."}},
		}},
		{name: "auth-plain-ir", steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"AUTH PLAIN " + plainIR, []string{"+OK Logged in."}},
			{"CAPA", capaAfterLogin},
			{"USER b", []string{"-ERR Unknown command: USER"}},
			{"QUIT", []string{"+OK Logging out."}},
		}},
		{name: "auth-plain-continued", steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"AUTH PLAIN", []string{"+ "}},
			{"*", []string{"-ERR Authentication aborted by client."}},
			{"AUTH PLAIN", []string{"+ "}},
			{plainIR, []string{"+OK Logged in."}},
		}},
		{name: "auth-login", mod: func(c *Config) { c.Mechanisms = []string{"plain", "login"} }, steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"CAPA", []string{"+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "USER", "SASL PLAIN LOGIN", "."}},
			{"AUTH", []string{"+OK", "PLAIN", "LOGIN", "."}},
			{"AUTH CRAM-MD5", []string{"-ERR Unsupported authentication mechanism."}},
			{"AUTH LOGIN", []string{"+ VXNlcm5hbWU6"}},
			{base64.StdEncoding.EncodeToString([]byte("b")), []string{"+ UGFzc3dvcmQ6"}},
			{base64.StdEncoding.EncodeToString([]byte("pw")), []string{"+OK Logged in."}},
		}},
		{name: "uid-below-first-valid", mod: func(c *Config) { c.FirstValidUID = 5000 }, steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"USER b", []string{"+OK"}},
			{"PASS pw", []string{"-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information.", "<EOF>"}},
		}},
		{name: "username-format", steps: []step{
			{"", []string{"+OK Dovecot (Debian) ready."}},
			{"USER B", []string{"+OK"}},
			{"PASS pw", []string{"+OK Logged in."}},
			{"QUIT", []string{"+OK Logging out."}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tc.insecure {
				addr = "127.0.0.2:0"
			}
			ts := startServerOn(t, addr, []byte{}, func(c *Config) {
				c.AllowPlaintext = false
				c.SSL = "yes"
				c.TLS = testCert(t)
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			var c *client
			var greeting string
			if tc.insecure {
				c, greeting = dialFrom(t, "127.0.0.1", ts.addr)
			} else {
				c, greeting = dial(t, ts.addr)
			}
			for i, st := range tc.steps {
				var got []string
				if st.send == "" && i == 0 {
					got = []string{greeting}
				} else {
					c.send(st.send)
				}
				for len(got) < len(st.want) {
					got = append(got, c.line())
				}
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Fatalf("after %q (-want +got):\n%s", st.send, diff)
				}
			}
		})
	}
}

// TestSTLS checks STLS and implicit TLS: the capability list loses STLS and
// gains USER and SASL PLAIN on a connection that was not secured.
func TestSTLS(t *testing.T) {
	cert := testCert(t)
	mod := func(c *Config) { c.AllowPlaintext = false; c.SSL = "yes"; c.TLS = cert }
	ts := startServerOn(t, "127.0.0.2:0", []byte{}, mod)
	c, _ := dialFrom(t, "127.0.0.1", ts.addr)
	if got := c.cmd("STLS"); got != "+OK Begin TLS negotiation now." {
		t.Fatalf("STLS: %q", got)
	}
	c.startTLS()
	want := "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
	if got := c.multi("CAPA"); got != want {
		t.Errorf("CAPA after STLS: %q", got)
	}
	if got := c.cmd("STLS"); got != "-ERR TLS is already active." {
		t.Errorf("second STLS: %q", got)
	}
	c.login()
	c.cmd("QUIT")
	if !regexp.MustCompile(`pop3-login: Login: user=<b>, method=PLAIN, rip=127\.0\.0\.1, lip=127\.0\.0\.2, mpid=\d+, TLS, session=<`).MatchString(ts.log.String()) {
		t.Errorf("no TLS login line in log:\n%s", ts.log.String())
	}

	// Implicit TLS (pop3s).
	ts2 := startServerOn(t, "127.0.0.2:0", []byte{}, func(c *Config) { mod(c); c.ImplicitTLS = true })
	raw, err := tlsDial(ts2.addr)
	if err != nil {
		t.Fatal(err)
	}
	c2, greeting := wrap(t, raw)
	if greeting != "+OK Dovecot (Debian) ready." {
		t.Errorf("pop3s greeting %q", greeting)
	}
	if got := c2.multi("CAPA"); got != want {
		t.Errorf("CAPA on pop3s: %q", got)
	}
}

// TestLogLines checks the pop3-login and pop3 lines against the forms in
// anchor-behaviour.md §10 and dovecot-protocol.md §3.
func TestLogLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", "lifecycle-07-deleted-expunge.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	// Trusted: no anvil penalty after the failed login.
	ts := startServer(t, data, func(c *Config) { c.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	c, _ := dial(t, ts.addr)
	c.cmd("QUIT")
	c, _ = dial(t, ts.addr)
	c.cmd("USER b")
	c.cmd("PASS nope")
	c.cmd("QUIT")
	c, _ = dial(t, ts.addr)
	c.login()
	c.multi("RETR 1")
	c.multi("TOP 2 1")
	c.cmd("DELE 2")
	c.cmd("QUIT")
	c, _ = dial(t, ts.addr)
	c.login()
	c.multi("RETR 3")
	c.conn.Close()
	want := []string{
		`^\w{3} [ \d]\d \d\d:\d\d:\d\d mail dovecot: pop3-login: Disconnected: Aborted login by logging out \(no auth attempts in 0 secs\): user=<>, rip=127\.0\.0\.1, lip=127\.0\.0\.1, secured, session=<[A-Za-z0-9+/]{16}>$`,
		`dovecot: pop3-login: Disconnected: Aborted login by logging out \(auth failed, 1 attempts in 0 secs\): user=<b>, rip=127\.0\.0\.1, lip=127\.0\.0\.1, secured, session=<`,
		`dovecot: pop3-login: Login: user=<b>, method=PLAIN, rip=127\.0\.0\.1, lip=127\.0\.0\.1, mpid=\d+, secured, session=<`,
		`dovecot: pop3\(b\)<\d+><[A-Za-z0-9+/]{16}>: Disconnected: Logged out top=1/85, retr=1/310, del=1/4, size=700$`,
		`dovecot: pop3-login: Login: user=<b>`,
		`dovecot: pop3\(b\)<\d+><[A-Za-z0-9+/]{16}>: Disconnected: Connection closed top=0/0, retr=1/\d+, del=0/3, size=595$`,
	}
	var lines []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines = strings.Split(strings.TrimSpace(ts.log.String()), "\n")
		if len(lines) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d log lines, want %d:\n%s", len(lines), len(want), ts.log.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], re)
		}
	}
}

// TestAuthFailureDelay checks that a failed login is answered only after
// auth_failure_delay, and a right one at once.
func TestAuthFailureDelay(t *testing.T) {
	ts := startServer(t, []byte{}, func(c *Config) { c.AuthFailureDelay = 300 * time.Millisecond })
	c, _ := dial(t, ts.addr)
	c.cmd("USER b")
	start := time.Now()
	if got := c.cmd("PASS bad"); got != replyAuthFailed {
		t.Fatalf("PASS: %q", got)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("failure answered after %v, want >= 300ms", d)
	}
}

func TestPenalty(t *testing.T) {
	p := newPenalties()
	ip := mustAddr("192.0.2.1")
	now := time.Unix(1e9, 0)
	var got []time.Duration
	for i, pass := range []string{"a", "b", "b", "c", "d", "e"} {
		got = append(got, p.delay(ip, now))
		p.fail(ip, pass, now)
		now = now.Add(time.Duration(i+1) * time.Second)
	}
	got = append(got, p.delay(ip, now.Add(31*time.Second)))
	want := []time.Duration{0, 4 * time.Second, 8 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second, 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("penalties (-want +got):\n%s", diff)
	}
	p.succeed(ip)
	if d := p.delay(ip, now); d != 0 {
		t.Errorf("after success: %v", d)
	}
}
