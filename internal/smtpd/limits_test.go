// SPDX-License-Identifier: MIT

package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"mailsuite/pkg/accessdb"
)

func setOption(name, value string) func(string) string {
	return func(s string) string { return s + "O " + name + "=" + value + "\n" }
}

func TestMaxRecipients(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, trustedIP)
	c.reply()
	c.cmd("EHLO x")
	c.cmd("MAIL FROM:<a@hamap.local>")
	for i := range 25 {
		if r := c.cmd(fmt.Sprintf("RCPT TO:<user%d@outside.example>", i)); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("recipient %d: %q", i, r)
		}
	}
	runSteps(t, c, []step{{"RCPT TO:<one-more@outside.example>", "452 4.5.3 Too many recipients"}})
}

func TestMaxMessageSize(t *testing.T) {
	e := newEnv(t, envOpts{cfText: setOption("MaxMessageSize", "100")})
	c := e.dial(t, trustedIP)
	c.reply()
	if ehlo := c.cmd("EHLO x"); !strings.Contains(ehlo, "\n250-SIZE 100\n") {
		t.Errorf("EHLO: %q", ehlo)
	}
	runSteps(t, c, []step{
		{"MAIL FROM:<a@hamap.local> SIZE=101", "552 5.2.3 Message size exceeds fixed maximum message size (100)"},
		{"MAIL FROM:<a@hamap.local> SIZE=100", "250 2.1.0 <a@hamap.local>... Sender ok"},
		{"RCPT TO:<b@hamap.local>", "250 2.1.5 <b@hamap.local>... Recipient ok"},
		{"DATA", "354 End data with <CR><LF>.<CR><LF>"},
		{"Subject: big\r\n\r\n" + strings.Repeat("0123456789\r\n", 20) + ".", "552 5.2.3 Message size exceeds fixed maximum message size (100)"},
		{"MAIL FROM:<a@hamap.local>", "250 2.1.0 <a@hamap.local>... Sender ok"},
	})
	if n := len(e.spool.Messages()); n != 0 {
		t.Errorf("an oversized message was spooled (%d)", n)
	}
}

func TestBareCRLF(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"bare LF", "Subject: x\r\n\r\nline\nmore\r\n.\r\n", "421 4.5.0 Bare linefeed (LF) not allowed"},
		{"bare CR", "Subject: x\r\n\r\nline\rmore\r\n.\r\n", "421 4.5.0 Bare carriage return (CR) not allowed"},
		{"LF dot CRLF", "Subject: x\r\n\r\nline\n.\r\nMAIL FROM:<evil@x>\r\n", "421 4.5.0 Bare linefeed (LF) not allowed"},
		{"CRLF dot LF", "Subject: x\r\n\r\nline\r\n.\nMAIL FROM:<evil@x>\r\n", "421 4.5.0 Bare linefeed (LF) not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			c := e.dial(t, trustedIP)
			c.reply()
			c.cmd("EHLO x")
			c.cmd("MAIL FROM:<a@hamap.local>")
			c.cmd("RCPT TO:<b@hamap.local>")
			c.cmd("DATA")
			c.send(tc.data)
			if got := c.reply(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if got := c.reply(); !strings.HasPrefix(got, "<") {
				t.Errorf("connection still open after %q: %q", tc.want, got)
			}
			if n := len(e.spool.Messages()); n != 0 {
				t.Errorf("%d messages spooled", n)
			}
		})
	}
}

func TestCommandTimeout(t *testing.T) {
	e := newEnv(t, envOpts{cfText: setOption("Timeout.command", "1s")})
	c := e.dial(t, trustedIP)
	c.reply()
	start := time.Now()
	if got := c.reply(); got != "421 4.4.1 mail.hamap.local Lost input channel from [127.0.0.20]" {
		t.Errorf("after idling: %q", got)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("timeout after %v, want about 1s", d)
	}
}

func TestMaxDaemonChildren(t *testing.T) {
	e := newEnv(t, envOpts{cfText: setOption("MaxDaemonChildren", "1")})
	c1 := e.dial(t, trustedIP)
	c1.reply()
	c2 := e.dial(t, trustedIP)
	c2.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if got := c2.reply(); !strings.Contains(got, "timeout") {
		t.Fatalf("second session greeted while the first runs: %q", got)
	}
	c1.cmd("QUIT")
	c3 := e.dial(t, trustedIP) // the second connection's accept slot
	_ = c3
	c2.conn.Close()
	c3.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// c2's connection was accepted when c1 ended; c3 waits for c2's slot.
	if got := c3.reply(); !strings.HasPrefix(got, "220 ") {
		t.Errorf("third session not greeted after the others ended: %q", got)
	}
}

func TestConnectionRateThrottle(t *testing.T) {
	e := newEnv(t, envOpts{cfText: setOption("ConnectionRateThrottle", "2")})
	// Start right after a second boundary so the three connects fall in
	// one second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	start := time.Now()
	var got []time.Duration
	for range 3 {
		c := e.dial(t, trustedIP)
		c.reply()
		got = append(got, time.Since(start))
	}
	if got[1] > 500*time.Millisecond {
		t.Errorf("second connection delayed %v", got[1])
	}
	if got[2] < 500*time.Millisecond {
		t.Errorf("third connection in the same second not delayed: %v", got[2])
	}
}

func TestConnectAccess(t *testing.T) {
	access := map[string]string{
		"Connect:127.0.0":      "RELAY",
		"Connect:127.1.0.66":   "DISCARD",
		"Connect:127.1.0.67":   `ERROR:"421 closing, go away"`,
		"Connect:127.1.0.68":   "ERROR:5.7.1:550 Your network is blocked",
		"From:discard.example": "DISCARD",
	}
	e := newEnv(t, envOpts{access: access})

	c := e.dial(t, "127.1.0.67")
	runSteps(t, c, []step{})
	if got := c.reply(); got != "421 4.0.0 closing, go away" {
		t.Errorf("refused greeting: %q", got)
	}

	c = e.dial(t, "127.1.0.68")
	c.reply()
	runSteps(t, c, []step{
		{"HELO x", "250 mail.hamap.local Hello [127.1.0.68], pleased to meet you"},
		{"MAIL FROM:<a@hamap.local>", "550 5.7.1 Your network is blocked"},
		{"QUIT", "221 2.0.0 mail.hamap.local closing connection"},
	})

	for _, src := range []string{"127.1.0.66", trustedIP} {
		c = e.dial(t, src)
		c.reply()
		from := "<a@hamap.local>"
		if src == trustedIP {
			from = "<x@discard.example>"
		}
		runSteps(t, c, []step{
			{"MAIL FROM:" + from, "250 2.1.0 " + from + "... Sender ok"},
			{"RCPT TO:<b@hamap.local>", "250 2.1.5 <b@hamap.local>... Recipient ok"},
			{"DATA", "354 End data with <CR><LF>.<CR><LF>"},
		})
		if r := c.cmd("Subject: x\r\n\r\nx\r\n."); !strings.HasPrefix(r, "250 2.0.0 ") {
			t.Errorf("end of data: %q", r)
		}
	}
	if n := len(e.spool.Messages()); n != 0 {
		t.Errorf("discarded messages were spooled: %d", n)
	}
	if !strings.Contains(e.log.String(), ": discarded") {
		t.Errorf("no discard in the log:\n%s", e.log.String())
	}
}

func TestLogLines(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, untrustedIP)
	c.reply()
	c.cmd("EHLO x")
	c.cmd("MAIL FROM:<a@hamap.local>")
	c.cmd("RCPT TO:<friend@outside.example>")
	c.cmd("RCPT TO:<nosuchuser@hamap.local>")
	c.cmd("QUIT")
	c = e.dial(t, trustedIP)
	c.reply()
	c.cmd("VRFY b")
	c.cmd("QUIT")
	c = e.dial(t, trustedIP)
	c.reply()
	c.cmd("QUIT")
	time.Sleep(100 * time.Millisecond)
	logs := e.log.String()
	for _, want := range []string{
		`: ruleset=check_rcpt, arg1=<friend@outside.example>, relay=[127.1.0.5], reject=550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]`,
		`: <nosuchuser@hamap.local>... User unknown`,
		`: from=<a@hamap.local>, size=0, class=0, nrcpts=0, proto=ESMTP, daemon=MTA, relay=[127.1.0.5]`,
		`: [127.0.0.20]: VRFY b [rejected]`,
		`: [127.0.0.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(logs)
	}
}

func TestReload(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, untrustedIP)
	c.reply()
	c.cmd("MAIL FROM:<a@hamap.local>")
	if r := c.cmd("RCPT TO:<x@outside.example>"); !strings.HasPrefix(r, "550 ") {
		t.Fatalf("before reload: %q", r)
	}
	cfg := e.srv.config()
	pol := *cfg.Policy
	pol.Access = &accessdb.Checker{Map: accessdb.NewMemMap(map[string]string{"Connect:127.1.0.5": "RELAY"}), TempFail: true}
	cfg.Policy = &pol
	if err := e.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	c = e.dial(t, untrustedIP)
	c.reply()
	c.cmd("MAIL FROM:<a@hamap.local>")
	if r := c.cmd("RCPT TO:<x@outside.example>"); r != "250 2.1.5 <x@outside.example>... Recipient ok" {
		t.Errorf("after reload: %q", r)
	}
}

func TestShutdownDrains(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial(t, trustedIP)
	c.reply()
	c.cmd("MAIL FROM:<a@hamap.local>")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := net.DialTimeout("tcp4", e.addr, time.Second); err == nil {
		t.Error("new connection accepted during shutdown")
	}
	runSteps(t, c, []step{
		{"RCPT TO:<b@hamap.local>", "250 2.1.5 <b@hamap.local>... Recipient ok"},
		{"QUIT", "221 2.0.0 mail.hamap.local closing connection"},
	})
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestIPv6Client: a client on ::1 is local (Relay_ok's IPv6:0:0:0:0:0:0:0:1)
// and is named in sendmail's IPv6 literal form.
func TestIPv6Client(t *testing.T) {
	e := newEnv(t, envOpts{})
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ln, e.cfg.DaemonPortOptions[0]) }()
	conn, err := net.Dial("tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), w: bufio.NewWriter(conn)}
	c.reply()
	runSteps(t, c, []step{
		{"HELO x", "250 mail.hamap.local Hello [IPv6:::1], pleased to meet you"},
		{"MAIL FROM:<a@hamap.local>", "250 2.1.0 <a@hamap.local>... Sender ok"},
		{"RCPT TO:<x@outside.example>", "250 2.1.5 <x@outside.example>... Recipient ok"},
	})
}

// TestShutdownEndsIdleSessions: at shutdown a session waiting between
// transactions (a peer's cached connection) is closed at once, as the
// real sendmail's daemon ends its children at SIGTERM (seen: the client
// got EOF, no reply, 0.6 s after the signal); a session with a
// transaction open may finish it and is closed when it next waits
// outside one.
func TestShutdownEndsIdleSessions(t *testing.T) {
	e := newEnv(t, envOpts{})
	idle := e.dial(t, trustedIP)
	idle.reply()
	idle.cmd("EHLO pc")
	busy := e.dial(t, trustedIP)
	busy.reply()
	busy.cmd("MAIL FROM:<a@hamap.local>")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	if l, err := idle.r.ReadLine(); err == nil {
		t.Errorf("idle session got %q, want the connection closed", l)
	}
	runSteps(t, busy, []step{
		{"RCPT TO:<b@hamap.local>", "250 2.1.5 <b@hamap.local>... Recipient ok"},
		{"RSET", "250 2.0.0 Reset state"},
	})
	busy.w.WriteString("NOOP\r\n")
	busy.w.Flush()
	if l, err := busy.r.ReadLine(); err == nil {
		t.Errorf("after its transaction, the session got %q, want the connection closed", l)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v (a session kept it waiting)", err)
	}
}
