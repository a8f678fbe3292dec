// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestInactivity: Dovecot ends idle connections with "-ERR Disconnected
// for inactivity." before (180 s) and after (600 s) login; the timeouts
// are shortened here.
func TestInactivity(t *testing.T) {
	ts := startServer(t, readTestMbox(t, "lifecycle-07-deleted-expunge"), func(c *Config) {
		c.LoginTimeout, c.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond
	})
	c, _ := dial(t, ts.addr)
	if got := c.line(); got != replyInactivity {
		t.Errorf("pre-login: %q", got)
	}
	if got := c.line(); got != "<EOF>" {
		t.Errorf("after the reply: %q", got)
	}
	c, _ = dial(t, ts.addr)
	c.login()
	if got := c.line(); got != replyInactivity {
		t.Errorf("post-login: %q", got)
	}
	waitLog(t, ts, "Disconnected: Inactivity - no input for 0 secs top=0/0, retr=0/0, del=0/4, size=700")
	if !strings.Contains(ts.log.String(), "pop3-login: Disconnected: Inactivity (no auth attempts in 0 secs): user=<>") {
		t.Errorf("no pre-login inactivity line:\n%s", ts.log.String())
	}
}

// TestShutdown: when Serve's context ends, open sessions get Dovecot's
// "Server shutting down." reply and Serve returns after they are gone.
func TestShutdown(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Config{Auth: testAuth{home: dir, uid: 1000}, AllowPlaintext: true,
			MailLocation: "mbox:" + dir + "/mail:INBOX=" + dir + "/inbox"})
	}()
	c1, _ := dial(t, ln.Addr().String())
	c2, _ := dial(t, ln.Addr().String())
	c2.login()
	cancel()
	for _, c := range []*client{c1, c2} {
		if got := c.line(); got != replyShutdown {
			t.Errorf("got %q, want %q", got, replyShutdown)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
