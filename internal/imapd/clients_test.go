// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/mbox"
)

// TestPythonImaplib is the seed's scenario with python3's imaplib: b logs
// in with the password from the alternate shadow file, sees a's message,
// marks it read, deletes and expunges it.
func TestPythonImaplib(t *testing.T) {
	py := testutil.Oracle(t, "python3", "python3")
	e := newEnv(t, "127.0.0.1", nil)
	host, port, _ := strings.Cut(e.addr, ":")
	script := `
import imaplib, sys
M = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
M.login('b', sys.argv[3])
typ, data = M.select('INBOX')
print('EXISTS', data[0].decode())
typ, data = M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] FLAGS)')
print('HDR', data[0][1].decode().replace('\r\n', '|'))
typ, data = M.fetch('1', '(BODY[TEXT])')
print('TEXT', data[0][1].decode().replace('\r\n', '|'))
typ, data = M.fetch('1', '(FLAGS)')
print('FLAGS', data[0].decode())
typ, data = M.store('1', '+FLAGS', '\\Deleted')
typ, data = M.expunge()
print('EXPUNGED', data)
typ, data = M.select('INBOX')
print('EXISTS', data[0].decode())
M.logout()
`
	cmd := exec.Command(py, "-c", script, host, port, passB)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := "EXISTS 1\n" +
		"HDR From: a <a@hamap.local>|Subject: seed 1||\n" +
		"TEXT Hello b, this is a.|\n" +
		"FLAGS 1 (FLAGS (\\Seen \\Recent))\n" +
		"EXPUNGED [b'1']\n" +
		"EXISTS 0\n"
	if string(out) != want {
		t.Errorf("python transcript:\n%s\nwant:\n%s", out, want)
	}
	// The message is gone from the file, which is still a valid mbox
	// for Dovecot (the pseudo message keeps UIDVALIDITY and uid-last).
	mb, err := mbox.Open(context.Background(), e.spool, mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close(context.Background())
	if mb.Len() != 0 || mb.UIDNext() != 2 {
		t.Errorf("after expunge: %d messages, UIDNEXT %d; want 0 and 2", mb.Len(), mb.UIDNext())
	}
}

// TestCurl reads a's message with curl's imap:// URL syntax.
func TestCurl(t *testing.T) {
	curl := testutil.Oracle(t, "curl", "curl")
	e := newEnv(t, "127.0.0.1", nil)
	out, err := exec.Command(curl, "-sS", "--max-time", "20", "-u", "b:"+passB,
		"imap://"+e.addr+"/INBOX;UID=1").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	want := strings.ReplaceAll(msgAtoB[strings.Index(msgAtoB, "\n")+1:len(msgAtoB)-1], "\n", "\r\n")
	if string(out) != want {
		t.Errorf("curl got:\n%q\nwant:\n%q", out, want)
	}
	out, err = exec.Command(curl, "-sS", "--max-time", "20", "-u", "b:"+passB, "imap://"+e.addr+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `* LIST (\HasNoChildren) "/" INBOX`) {
		t.Errorf("curl LIST: %v\n%s", err, out)
	}
}

// TestIdleSeesDelivery: a message appended by another writer (pkg/mbox
// with Debian's locks, as sendmaild's local delivery does) reaches an
// IDLE session within a second.
func TestIdleSeesDelivery(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.IdleCheck = time.Hour }) // inotify only
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("SELECT INBOX")
	cl.n++
	if _, err := cl.c.Write([]byte("a" + strconv.Itoa(cl.n) + " IDLE\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := cl.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	deliver(t, e.spool, "From c@hamap.local  Fri Nov 27 02:00:00 2026\nFrom: c@hamap.local\nSubject: later\n\nsecond\n")
	if l := cl.line(); l != "* 2 EXISTS" {
		t.Fatalf("during IDLE got %q, want * 2 EXISTS", l)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("delivery reached the IDLE session after %v", d)
	}
	cl.c.Write([]byte("DONE\r\n"))
	lines, st := cl.until("a" + strconv.Itoa(cl.n))
	if !strings.HasPrefix(st, "OK") || len(lines) != 1 || lines[0] != "* 2 RECENT" {
		t.Errorf("after DONE: %q %q", lines, st)
	}
	lines = cl.mustOK("FETCH 2 (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if len(lines) != 1 || !strings.Contains(lines[0], "UID 2 FLAGS (\\Recent)") || !strings.Contains(lines[0], "Subject: later") {
		t.Errorf("FETCH 2: %q", lines)
	}
}

// deliver appends a message the way a local delivery agent does.
func deliver(t *testing.T, path, msg string) {
	t.Helper()
	ctx := context.Background()
	mb, err := mbox.Open(ctx, path, mbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	from, rest, _ := strings.Cut(msg, "\n")
	sender := strings.Fields(from)[1]
	if _, err := mb.Append(ctx, strings.NewReader(rest), mbox.AppendOptions{Sender: sender}); err != nil {
		t.Fatal(err)
	}
	if err := mb.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestIdleKeepalive: "* OK Still here" every imap_idle_notify_interval.
func TestIdleKeepalive(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.IdleNotify = 100 * time.Millisecond })
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("SELECT INBOX")
	cl.c.Write([]byte("i IDLE\r\n"))
	if l := cl.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	for i := 0; i < 2; i++ {
		if l := cl.line(); l != "* OK Still here" {
			t.Fatalf("keepalive %d: %q", i, l)
		}
	}
	deliver(t, e.spool, "From c@hamap.local  Fri Nov 27 02:00:00 2026\nSubject: later\n\nsecond\n")
	for {
		l := cl.line()
		if l == "* 2 EXISTS" {
			break
		}
		if l != "* OK Still here" {
			t.Fatalf("during IDLE: %q", l)
		}
	}
	cl.c.Write([]byte("DONE\r\n"))
	if _, st := cl.until("i"); !strings.HasPrefix(st, "OK") {
		t.Errorf("IDLE end: %q", st)
	}
}

// TestIdleStatFallback: without inotify the periodic stat (IdleCheck)
// still brings a delivery to an IDLE session.
func TestIdleStatFallback(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.IdleCheck = 200 * time.Millisecond })
	e.srv.noInotify.Store(true)
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("SELECT INBOX")
	cl.c.Write([]byte("i IDLE\r\n"))
	if l := cl.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	start := time.Now()
	deliver(t, e.spool, "From c@hamap.local  Fri Nov 27 02:00:00 2026\nSubject: later\n\nsecond\n")
	if l := cl.line(); l != "* 2 EXISTS" {
		t.Fatalf("during IDLE got %q", l)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stat fallback took %v", d)
	}
	cl.c.Write([]byte("DONE\r\n"))
	cl.until("i")
}
