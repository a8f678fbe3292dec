// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/google/go-cmp/cmp"

	"mailsuite/pkg/mbox"
)

// TestNoNonexistentDuringRewrite races another process's expunging writer
// (pkg/mbox, as a POP3 session or a second IMAP server does it) against
// sessions that SELECT and APPEND the same INBOX, each opening the file
// anew. INBOX exists throughout: neither command may answer NONEXISTENT
// (nor TRYCREATE), whatever file the rewrite makes vanish for a moment.
func TestNoNonexistentDuringRewrite(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t, "127.0.0.1", nil)
	// The writer is another process, as a POP3 server is: fcntl locks
	// do not keep two Mailboxes of one process apart.
	cmd := exec.Command(os.Args[0], "-test.run=^TestExpungingWriter$")
	cmd.Env = append(os.Environ(), "IMAPD_TEST_WRITER="+e.spool)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	copied := make(chan struct{})
	go func() { io.Copy(&out, stdout); close(copied) }()
	const msg = "Subject: appended\r\n\r\nx\r\n"
	deadline := time.Now().Add(3 * time.Second)
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	n := 0
	for time.Now().Before(deadline) && !t.Failed() {
		// Each command opens the file anew: nothing keeps it open between.
		for _, c := range []string{"SELECT INBOX", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg), "UNSELECT",
			fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg), "STATUS INBOX (MESSAGES)"} {
			_, st := cl.cmd(c)
			if !strings.HasPrefix(st, "OK") {
				t.Errorf("%s: %s", strings.Fields(c)[0], st)
			}
			n++
		}
	}
	cl.cmd("LOGOUT")
	cmd.Process.Signal(os.Interrupt)
	<-copied
	cmd.Wait()
	if !strings.Contains(out.String(), "writer rounds:") {
		t.Errorf("the writer did not run: %q", out.String())
	}
	t.Logf("%d commands; %s", n, strings.TrimSpace(out.String()))
}

// TestExpungingWriter is TestNoNonexistentDuringRewrite's other process:
// it appends, flags half the messages \Deleted and expunges them, until
// interrupted.
func TestExpungingWriter(t *testing.T) {
	path := os.Getenv("IMAPD_TEST_WRITER")
	if path == "" {
		t.Skip("run by TestNoNonexistentDuringRewrite")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	i := 0
	for ; ctx.Err() == nil; i++ {
		mb, err := mbox.Open(ctx, path, mbox.Options{})
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("writer open: %v", err)
			}
			break
		}
		mb.Append(ctx, strings.NewReader(fmt.Sprintf("Subject: w-%d\n\nbody\n", i)), mbox.AppendOptions{Sender: "w@x"})
		msgs := mb.Messages()
		for _, m := range msgs[:len(msgs)/2] {
			mb.SetFlags(m.UID, m.Flags|mbox.Deleted, m.Keywords)
		}
		if _, err := mb.Expunge(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("writer expunge: %v", err)
		}
		if err := mb.Close(context.Background()); err != nil && ctx.Err() == nil {
			t.Errorf("writer close: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	fmt.Printf("writer rounds: %d\n", i)
}

// TestMailboxErrorNotFound: only pkg/mbox's ErrNoMailbox is NONEXISTENT; a
// file that vanished under an existing mailbox is a server error.
func TestMailboxErrorNotFound(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want imap.ResponseCode
	}{
		{"no mailbox", fmt.Errorf("open x: %w", mbox.ErrNoMailbox), imap.ResponseCodeNonExistent},
		{"vanished journal", fmt.Errorf("remove journal: %w", &os.PathError{Op: "remove", Path: "/x/.journal", Err: syscall.ENOENT}), imap.ResponseCodeServerBug},
		{"bare not exist", os.ErrNotExist, imap.ResponseCodeServerBug},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ie *imap.Error
			if !errors.As(mailboxError("INBOX", tc.err), &ie) {
				t.Fatalf("not an imap.Error")
			}
			if diff := cmp.Diff(tc.want, ie.Code); diff != "" {
				t.Errorf("code (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAcquireMissing: a mailbox that really does not exist is still
// reported as such after the retries (APPEND: TRYCREATE; SELECT:
// NONEXISTENT).
func TestAcquireMissing(t *testing.T) {
	e := newEnv(t, "127.0.0.1", nil)
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	for _, tc := range []struct{ cmd, want string }{
		{"SELECT nosuch", "NO [NONEXISTENT] Mailbox doesn't exist: nosuch"},
		{"APPEND nosuch {3+}\r\nx\r\n", "NO [TRYCREATE] Mailbox doesn't exist: nosuch"},
	} {
		t.Run(strings.Fields(tc.cmd)[0], func(t *testing.T) {
			_, st := cl.cmd(tc.cmd)
			if diff := cmp.Diff(tc.want, st); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
