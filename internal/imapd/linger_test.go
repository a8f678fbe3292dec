// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailsuite/pkg/mbox"
)

// lingering reports whether the server keeps the mailbox at path open
// with no session using it.
func lingering(e *env, path string) bool {
	key, _ := filepath.Abs(path)
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	sm := e.srv.shared[key]
	return sm != nil && sm.refs == 0 && sm.linger != nil
}

// TestLingeringMailbox: after its last session, a mailbox stays open for
// the next one (with its changes already in the file), and a session
// that comes back sees whatever other writers did meanwhile: a delivery,
// a flag change, the file replaced.
func TestLingeringMailbox(t *testing.T) {
	e := newEnv(t, "127.0.0.1", nil)
	session := func(cmds ...string) [][]string {
		cl := dial(t, e.addr, "")
		cl.mustOK("LOGIN b " + passB)
		var out [][]string
		for _, c := range cmds {
			out = append(out, cl.mustOK(c))
		}
		cl.mustOK("LOGOUT")
		return out
	}
	session("SELECT INBOX", "STORE 1 +FLAGS.SILENT (\\Flagged)")
	// The session ends (and releases the mailbox) after LOGOUT's reply.
	for i := 0; !lingering(e, e.spool); i++ {
		if i > 1000 {
			t.Fatalf("INBOX not kept open after the session")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The session's change is in the file already.
	if b, _ := os.ReadFile(e.spool); !strings.Contains(string(b), "X-Status: F") {
		t.Errorf("\\Flagged not written at logout:\n%s", b)
	}
	ctx := context.Background()
	deliver(t, e.spool, "From d@x  Fri Nov 27 02:00:00 2026\nSubject: while-lingering\n\nbody\n")
	mb, err := mbox.Open(ctx, e.spool, mbox.Options{})
	must(t, err)
	m := mb.Messages()[0]
	must(t, mb.SetFlags(m.UID, m.Flags|mbox.Answered, m.Keywords))
	must(t, mb.Close(ctx))
	out := session("SELECT INBOX", "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if !strings.Contains(strings.Join(out[0], "\n"), "* 2 EXISTS") {
		t.Errorf("SELECT after a delivery: %q", out[0])
	}
	got := strings.Join(out[1], "\n")
	if !strings.Contains(got, "while-lingering") || !strings.Contains(got, "\\Answered \\Flagged") {
		t.Errorf("FETCH after other writers: %q", got)
	}
	// The file replaced by another (a restore, a DELETE and CREATE).
	other := filepath.Join(filepath.Dir(e.spool), "new")
	must(t, os.WriteFile(other, []byte("From x@y  Fri Nov 27 03:00:00 2026\nSubject: replaced\n\nnew\n"), 0o600))
	must(t, os.Rename(other, e.spool))
	out = session("SELECT INBOX", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if got := strings.Join(out[1], "\n"); !strings.Contains(got, "replaced") || strings.Contains(got, "while-lingering") {
		t.Errorf("FETCH after the file was replaced: %q", got)
	}
	// Expiry closes it.
	old := mailboxLinger
	t.Cleanup(func() { mailboxLinger = old })
	mailboxLinger = 1
	session("STATUS INBOX (MESSAGES)")
	for i := 0; lingering(e, e.spool); i++ {
		if i > 1000 {
			t.Fatal("INBOX still open after its linger time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLogoutWriteTakesInDelivery: a delivery that the logout's write takes
// in (the watcher had not seen it: here it never does) must reach the next
// session of the lingering mailbox, and a FETCH 1:* there must list it.
// The mailbox's message list and the sessions' UID list used to part
// ways there: SELECT said 1 EXISTS and FETCH returned nothing new.
func TestLogoutWriteTakesInDelivery(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.IdleCheck = time.Hour })
	e.srv.noInotify.Store(true)
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("SELECT INBOX")
	cl.mustOK("STORE 1 +FLAGS.SILENT (\\Flagged)")
	deliver(t, e.spool, "From d@x  Fri Nov 27 02:00:00 2026\nSubject: taken-in\n\nbody\n")
	cl.mustOK("LOGOUT")
	for i := 0; !lingering(e, e.spool); i++ {
		if i > 1000 {
			t.Fatalf("INBOX not kept open after the session")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c2 := dial(t, e.addr, "")
	c2.mustOK("LOGIN b " + passB)
	sel := strings.Join(c2.mustOK("EXAMINE INBOX"), "\n")
	if !strings.Contains(sel, "* 2 EXISTS") {
		t.Errorf("EXAMINE: %q", sel)
	}
	got := strings.Join(c2.mustOK("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "\n")
	if !strings.Contains(got, "taken-in") || !strings.Contains(got, "\\Flagged") {
		t.Errorf("UID FETCH: %q", got)
	}
}
