// SPDX-License-Identifier: MIT

package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFetchAfterGrowth: a message saved by APPEND keeps its bytes (and its
// RFC822.SIZE) whether or not other processes deliver after it, a session
// sets \Seen on it, or the mailbox is closed and reopened in between, for
// the session that appended it and for another one. pkg/mbox's Append
// used to report a size two bytes short (the header's blank line) and
// write it into its index, and FETCH BODY[] streamed that many bytes.
func TestFetchAfterGrowth(t *testing.T) {
	const appended = "Subject: appended\r\nFrom: c@x\r\n\r\nline one\r\nline two\r\n"
	for _, tc := range []struct {
		name        string
		selectFirst bool // the appending session has INBOX selected
		seen        bool // a session sets \Seen before the deliveries
		deliveries  int
	}{
		{"unselected one delivery", false, false, 1},
		{"selected one delivery", true, false, 1},
		{"selected no delivery", true, false, 0},
		{"unselected no delivery", false, false, 0},
		{"selected three deliveries", true, false, 3},
		{"unselected three deliveries", false, false, 3},
		{"seen unselected one delivery", false, true, 1},
		{"seen selected one delivery", true, true, 1},
		{"seen selected three deliveries", true, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "127.0.0.1", nil)
			cl := dial(t, e.addr, "")
			cl.mustOK("LOGIN b " + passB)
			if tc.selectFirst {
				cl.mustOK("SELECT INBOX")
			}
			_, st := cl.cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(appended), appended))
			if !strings.HasPrefix(st, "OK [APPENDUID ") {
				t.Fatalf("APPEND: %s", st)
			}
			uid := strings.Fields(st)[3]
			uid = strings.TrimSuffix(uid, "]")
			if tc.seen {
				r := dial(t, e.addr, "")
				r.mustOK("LOGIN b " + passB)
				r.mustOK("SELECT INBOX")
				r.mustOK("UID FETCH 1:* BODY.PEEK[]")
				r.mustOK("UID STORE 1:* +FLAGS.SILENT (\\Seen)")
				r.mustOK("LOGOUT")
			}
			for i := 0; i < tc.deliveries; i++ {
				deliver(t, e.spool, fmt.Sprintf("From d@x  Fri Nov 27 02:00:00 2026\nSubject: deliv-%d\n\nbody %d\n", i, i))
			}
			other := dial(t, e.addr, "")
			other.mustOK("LOGIN b " + passB)
			other.mustOK("SELECT INBOX")
			if !tc.selectFirst {
				cl.mustOK("SELECT INBOX")
			}
			cl.mustOK("NOOP")
			for name, c := range map[string]*client{"appender": cl, "other": other} {
				lines := c.mustOK("UID FETCH " + uid + " (RFC822.SIZE BODY.PEEK[])")
				want := fmt.Sprintf("* 2 FETCH (UID %s RFC822.SIZE %d BODY[] {%d}\n%s)", uid, len(appended), len(appended), appended)
				var got string
				for _, l := range lines {
					if strings.Contains(l, "BODY[]") {
						got = l
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: UID FETCH BODY[] (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}
