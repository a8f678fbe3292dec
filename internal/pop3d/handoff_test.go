// SPDX-License-Identifier: MIT

package pop3d

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"mailsuite/internal/dovecotauth"
)

const handoffMbox = "From a@x  Fri Nov 27 01:01:09 2026\nSubject: hi\n\nhello\n\n"

// startHandoff runs a login server whose Handoff gives sessions to a
// Worker in the same process (the mail process's role).
func startHandoff(t *testing.T, mod func(*Config)) (*testServer, chan *Handoff) {
	t.Helper()
	got := make(chan *Handoff, 4)
	var w *Worker
	ts := startServer(t, []byte(handoffMbox), func(c *Config) {
		var err error
		wc := *c
		if w, err = NewWorker(wc); err != nil {
			t.Fatal(err)
		}
		c.Handoff = func(h *Handoff, logged func(int)) error {
			// What dovecotd's separator checks before choosing a worker.
			if err := dovecotauth.CheckDropPrivileges(h.User, dovecotauth.GIDRange{First: 1}); err != nil {
				return err
			}
			logged(4242)
			got <- h
			w.ServeHandoff(context.Background(), h.Conn, h, func() {})
			return nil
		}
		if mod != nil {
			mod(c)
		}
	})
	t.Cleanup(w.Shutdown)
	return ts, got
}

// TestHandoffPipelined: commands pipelined after PASS reach the mail
// process, which says "+OK Logged in." and logs the session.
func TestHandoffPipelined(t *testing.T) {
	ts, got := startHandoff(t, nil)
	c, _ := dial(t, ts.addr)
	c.send("USER b\r\nPASS pw\r\nSTAT\r\nQUIT")
	var lines []string
	for len(lines) < 4 {
		lines = append(lines, c.line())
	}
	want := "+OK|+OK Logged in.|+OK 1 22|+OK Logging out."
	if strings.Join(lines, "|") != want {
		t.Errorf("dialogue %q, want %q", lines, want)
	}
	h := <-got
	if h.User.Name != "b" || !bytes.Contains(h.Pending, []byte("STAT\r\n")) || h.TLS {
		t.Errorf("handoff %+v", h)
	}
	logs := ts.log.String()
	if !strings.Contains(logs, "pop3-login: Login: user=<b>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=4242, secured, session=<"+h.Session+">") {
		t.Errorf("login line:\n%s", logs)
	}
	if !regexp.MustCompile(`pop3\(b\)<\d+><` + regexp.QuoteMeta(h.Session) + `>: Disconnected: Logged out top=0/0, retr=0/0, del=0/1, size=22`).MatchString(logs) {
		t.Errorf("logout line:\n%s", logs)
	}
}

// TestHandoffRefusals: with a Handoff, uid 0 and a user without uid get
// Dovecot's mail-process refusal; a failed hand-over an internal error.
func TestHandoffRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		uid, gid int
		fail     bool
		log      string
	}{
		{"root", 0, 0, false, "Error: Mail access not allowed for root"},
		{"no uid", -1, -1, false, "Error: Couldn't drop privileges: User is missing UID (see mail_uid setting)"},
		{"gid 0", 1000, 0, false, "Error: Mail access for users with GID 0 not permitted (see first_valid_gid in config file, gid from userdb lookup)."},
		{"hand-over fails", 1000, 1000, true, "pop3-login: Error: no worker: user=<b>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _ := startHandoff(t, func(c *Config) {
				c.Auth = idAuth{c.Auth, tc.uid, tc.gid}
				if tc.fail {
					c.Handoff = func(*Handoff, func(int)) error { return errors.New("no worker") }
				}
			})
			c, _ := dial(t, ts.addr)
			c.send("USER b")
			c.line()
			c.send("PASS pw")
			if l := c.line(); l != replyInternal {
				t.Errorf("PASS: %q", l)
			}
			if !strings.Contains(ts.log.String(), tc.log) {
				t.Errorf("log has no %q:\n%s", tc.log, ts.log)
			}
		})
	}
}

// idAuth gives the user another uid and gid, as a userdb would.
type idAuth struct {
	Authenticator
	uid, gid int
}

func (a idAuth) Authenticate(ctx context.Context, user, pass string) (User, error) {
	u, err := a.Authenticator.Authenticate(ctx, user, pass)
	u.UID, u.GID = a.uid, a.gid
	return u, err
}
