// SPDX-License-Identifier: MIT

package pop3d

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDroppedConnection: a client that RETRs and DELEs and then goes away
// without QUIT leaves the mailbox as it was (RFC 1939 §6: no UPDATE
// state), byte for byte when Dovecot had already written the UIDs.
func TestDroppedConnection(t *testing.T) {
	for _, name := range []string{"lifecycle-07-deleted-expunge", "lifecycle-00-delivered"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "mbox", name+".mbox"))
			if err != nil {
				t.Fatal(err)
			}
			ts := startServer(t, data, nil)
			before := mboxState(t, ts.inbox)
			c, _ := dial(t, ts.addr)
			c.login()
			c.multi("RETR 1")
			c.multi("RETR 3")
			if got := c.cmd("DELE 2"); got != replyMarkedDeleted {
				t.Fatalf("DELE: %q", got)
			}
			c.cmd("DELE 1")
			c.conn.Close()
			waitLog(t, ts, "Disconnected: Connection closed")
			after, err := os.ReadFile(ts.inbox)
			if err != nil {
				t.Fatal(err)
			}
			if name == "lifecycle-07-deleted-expunge" && !bytes.Equal(after, data) {
				t.Errorf("file changed:\n%s", after)
			}
			if diff := cmp.Diff(before, mboxState(t, ts.inbox)); diff != "" {
				t.Errorf("mailbox changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestDroppedConnectionLikeDovecot compares with what real Dovecot leaves
// after the same dropped session on a freshly delivered file.
func TestDroppedConnectionLikeDovecot(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", "lifecycle-00-delivered.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	real := newRealPOP3(t, "")
	real.put(t, data)
	real.dropSession(t, "RETR 1\r\nDELE 2\r\n")
	ts := startServer(t, data, nil)
	c, _ := dial(t, ts.addr)
	c.login()
	c.multi("RETR 1")
	c.cmd("DELE 2")
	c.conn.Close()
	waitLog(t, ts, "Disconnected: Connection closed")
	if diff := cmp.Diff(mboxState(t, real.inbox()), mboxState(t, ts.inbox)); diff != "" {
		t.Errorf("(-dovecot +ours):\n%s", diff)
	}
}

// dropSession feeds input to Dovecot's pop3 and then closes stdin without
// QUIT.
func (d *realPOP3) dropSession(t testing.TB, input string) {
	t.Helper()
	cmd := d.command()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, input)
	time.Sleep(300 * time.Millisecond) // let it answer before the EOF
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

func waitLog(t testing.TB, ts *testServer, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Contains([]byte(ts.log.String()), []byte(s)) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in log:\n%s", s, ts.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
