// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/pkg/mbox"
)

// TestConcurrentDeliveryAndSessions races local deliveries (pkg/mbox with
// Debian's locks, another process's view) against two IMAP sessions doing
// APPEND, STORE and EXPUNGE on the same INBOX. Afterwards the file parses,
// every delivered or appended message that was not expunged is there
// exactly once, and UIDs are strictly increasing.
func TestConcurrentDeliveryAndSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	e := newEnv(t, "127.0.0.1", nil)
	const rounds = 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	expunged := map[string]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			deliver(t, e.spool, fmt.Sprintf("From d@x  Fri Nov 27 02:00:00 2026\nSubject: deliv-%d\n\nbody %d\n", i, i))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	subjRE := regexp.MustCompile(`Subject: (\S+)`)
	for s := 0; s < 2; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := dial(t, e.addr, "")
			cl.mustOK("LOGIN b " + passB)
			cl.mustOK("SELECT INBOX")
			for i := 0; i < rounds; i++ {
				cl.mustOK(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len("Subject: app-0-00\r\n\r\nx\r\n"), fmt.Sprintf("Subject: app-%d-%02d\r\n\r\nx\r\n", s, i)))
				if i%4 == 3 {
					// Delete the oldest visible message.
					lines := cl.mustOK("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
					cl.mustOK("STORE 1 +FLAGS.SILENT (\\Deleted)")
					cl.mustOK("EXPUNGE")
					// Whichever session's EXPUNGE removes it, the
					// message flagged here is gone at the end.
					for _, l := range lines {
						if !strings.Contains(l, "BODY[HEADER.FIELDS") {
							continue // another session's flag update
						}
						if m := subjRE.FindStringSubmatch(l); m != nil {
							mu.Lock()
							expunged[m[1]] = true
							mu.Unlock()
						}
					}
				} else {
					cl.mustOK("STORE 1:* +FLAGS.SILENT (\\Seen)")
				}
				cl.mustOK("NOOP")
			}
			cl.cmd("LOGOUT")
		}()
	}
	wg.Wait()
	mb, err := mbox.Open(context.Background(), e.spool, mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("mbox does not parse: %v", err)
	}
	defer mb.Close(context.Background())
	seen := map[string]int{}
	var last uint32
	for _, m := range mb.Messages() {
		if m.UID <= last {
			t.Errorf("UID %d after %d", m.UID, last)
		}
		last = m.UID
		r, _ := mb.Reader(m.UID)
		b, _ := messageBytes(r)
		if sm := subjRE.FindSubmatch(b); sm != nil {
			seen[string(sm[1])]++
		}
	}
	want := []string{"seed"}
	for i := 0; i < rounds; i++ {
		want = append(want, "deliv-"+strconv.Itoa(i), fmt.Sprintf("app-0-%02d", i), fmt.Sprintf("app-1-%02d", i))
	}
	for _, w := range want {
		if w == "seed" {
			continue
		}
		n := seen[w]
		if expunged[w] {
			if n != 0 {
				t.Errorf("%s expunged but present %d times", w, n)
			}
			continue
		}
		if n != 1 {
			t.Errorf("%s present %d times, want 1", w, n)
		}
	}
	if t.Failed() {
		t.Logf("expunged: %v", expunged)
		t.Logf("seen: %v", seen)
	}
}
