// SPDX-License-Identifier: MIT

package imapd

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDovecotUIDStore compares STORE and UID STORE replies with real
// Dovecot's imap: UID STORE's FETCH responses carry the UID (imaptest's
// expunge2 script), STORE's do not.
func TestDovecotUIDStore(t *testing.T) {
	const f = "testdata/addresses.mbox"
	cmds := []string{
		"SELECT INBOX",
		"STORE 1 +FLAGS (\\Flagged)",
		"UID STORE 2 +FLAGS (\\Seen)",
		"UID STORE 3:* FLAGS (\\Answered)",
		"UID STORE 1 -FLAGS.SILENT (\\Flagged)",
		"UID FETCH 1:* (FLAGS)",
	}
	want := realIMAP(t, copyMbox(t, f), cmds)
	got := oursIMAP(t, copyMbox(t, f), cmds)
	for i, c := range cmds[1:] {
		tag := "x" + strconv.Itoa(i+2)
		if d := cmp.Diff(normalize(want[tag]), normalize(got[tag])); d != "" {
			t.Errorf("%s (-dovecot +ours):\n%s", c, d)
		}
	}
}
