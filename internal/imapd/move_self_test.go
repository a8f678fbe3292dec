// SPDX-License-Identifier: MIT

package imapd

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// TestDifferentialMoveSelf compares MOVE (and UID MOVE) into the selected
// mailbox itself with Dovecot's: the copies are new messages with new
// UIDs, so besides the EXPUNGE of the sources the client is told of them
// with EXISTS (imaptest's move script).
func TestDifferentialMoveSelf(t *testing.T) {
	testutil.Oracle(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	cmds := []string{
		"SELECT INBOX", "MOVE 1 INBOX", "FETCH 1:* (UID FLAGS)", "UID MOVE 3:4 INBOX",
		"FETCH 1:* (UID FLAGS)", "NOOP", "COPY 1 INBOX", "NOOP",
	}
	want := realIMAP(t, copyMbox(t, "testdata/diff/mime.mbox"), cmds)
	got := oursIMAP(t, copyMbox(t, "testdata/diff/mime.mbox"), cmds)
	for i, c := range cmds[1:] {
		tag := "x" + strconv.Itoa(i+2)
		w, g := moveNorm(want[tag]), moveNorm(got[tag])
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s (-dovecot +ours):\n%s", c, d)
		}
	}
}

// moveNorm normalizes as normalize does, and drops the text of MOVE's
// untagged COPYUID line, which go-imap fixes.
func moveNorm(lines []string) []string {
	out := normalize(lines)
	for i, l := range out {
		if strings.HasPrefix(l, "* OK [COPYUID ") {
			out[i], _, _ = strings.Cut(l, "] ")
		}
	}
	return out
}
