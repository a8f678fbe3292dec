// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"mailsuite/pkg/mbox"
)

var reMsgID = regexp.MustCompile(`(?m)^Message-ID: <(m\d+)@test>\r$`)

// TestConcurrentDelivery races deliveries (pkg/mbox Append under the
// write lock, as sendmaild's mbox writer and an IMAP APPEND do) against
// POP3 sessions that download and delete everything: every message must
// be downloaded exactly once or still be in the mailbox at the end.
func TestConcurrentDelivery(t *testing.T) {
	ts := startServer(t, []byte{}, nil)
	const total = 60
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		mb, err := mbox.Open(ctx, ts.inbox, mbox.Options{})
		if err != nil {
			t.Error(err)
			return
		}
		defer mb.Close(ctx)
		for i := 0; i < total; i++ {
			msg := fmt.Sprintf("From: a@test\r\nSubject: %d\r\nMessage-ID: <m%d@test>\r\n\r\nbody %d\r\n", i, i, i)
			if _, err := mb.Append(ctx, strings.NewReader(msg), mbox.AppendOptions{Sender: "a@test"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]int{}
	download := func() int {
		c, _ := dial(t, ts.addr)
		c.login()
		var n int
		fmt.Sscanf(c.cmd("STAT"), "+OK %d", &n)
		for i := 1; i <= n; i++ {
			body := c.multi(fmt.Sprintf("RETR %d", i))
			m := reMsgID.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("RETR %d: no Message-ID in %q", i, body)
			}
			seen[m[1]]++
			c.cmd(fmt.Sprintf("DELE %d", i))
		}
		if got := c.cmd("QUIT"); !strings.HasPrefix(got, "+OK Logging out") {
			t.Fatalf("QUIT: %q", got)
		}
		return n
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		download()
	}
	download()
	left := mboxState(t, ts.inbox)
	for _, m := range left {
		if id := reMsgID.FindStringSubmatch(strings.ReplaceAll(m.Body, "\n", "\r\n")); id != nil {
			seen[id[1]]++
		}
	}
	for i := 0; i < total; i++ {
		if n := seen[fmt.Sprintf("m%d", i)]; n != 1 {
			t.Errorf("message m%d seen %d times", i, n)
		}
	}
	if len(left) != 0 {
		t.Errorf("%d messages left after the last download", len(left))
	}
}

// TestExpungedDuringSession: another process expunges a message while a
// POP3 session is open; RETR of it answers Dovecot's "-ERR Message N
// expunged.", and the other messages, now at other offsets, still come
// out whole.
func TestExpungedDuringSession(t *testing.T) {
	data := readTestMbox(t, "lifecycle-07-deleted-expunge")
	ts := startServer(t, data, nil)
	c, _ := dial(t, ts.addr)
	c.login()
	want4 := c.multi("RETR 4")

	ctx := context.Background()
	mb, err := mbox.Open(ctx, ts.inbox, mbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mb.Message(mb.Messages()[1].UID)
	if err := mb.SetFlags(m.UID, m.Flags|mbox.Deleted, m.Keywords); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Expunge(ctx); err != nil {
		t.Fatal(err)
	}
	mb.Close(ctx)

	if got := c.cmd("RETR 2"); got != "-ERR Message 2 expunged." {
		t.Errorf("RETR 2: %q", got)
	}
	if got := c.multi("RETR 4"); got != want4 {
		t.Errorf("RETR 4 after the expunge:\n%s\nwant:\n%s", got, want4)
	}
	if got := c.cmd("QUIT"); got != "+OK Logging out." {
		t.Errorf("QUIT: %q", got)
	}
}
