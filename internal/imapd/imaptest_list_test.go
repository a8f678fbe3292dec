// SPDX-License-Identifier: MIT

package imapd

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// TestDifferentialListSubscribedParents compares LSUB and LIST-EXTENDED
// on the folder layouts of imaptest's subscribe and listext scripts:
// parents of subscribed mailboxes (\Noselect in LSUB's % answers, and
// CHILDINFO only for a subscribed descendant the patterns do not match
// themselves, RFC 5258 §3.5).
func TestDifferentialListSubscribedParents(t *testing.T) {
	testutil.Oracle(t, "/usr/lib/dovecot/imap", "dovecot-imapd")
	cmds := []string{
		// imaptest's subscribe layout.
		"CREATE s/", "CREATE s/test", "CREATE s/test2/", "CREATE s/test3/", "CREATE s/test2/test",
		"CREATE s/test3/test3", "CREATE s/test2",
		"SUBSCRIBE s/test", "SUBSCRIBE s/test2/test", "SUBSCRIBE s/test3/test3",
		`LSUB "" s/%`, `LSUB "" *test`, `LSUB "" s/*`, `LSUB "" %`, `LSUB "" s/test2/%`,
		"UNSUBSCRIBE s/test", `LSUB "" s/%`, "UNSUBSCRIBE s/test2/test", `LSUB "" s/*`, `LSUB "" s/%`,
		// imaptest's listext layout.
		"CREATE l/", "CREATE l/test1", "CREATE l/test2/", "CREATE l/test2/test1", "CREATE l/test3",
		"CREATE l/test4/test5", "CREATE l/test4/test52", "CREATE l/test6", "CREATE l/test7/test7",
		"CREATE l/test8/test8", "CREATE l/test8/test9",
		"SUBSCRIBE l/test1", "SUBSCRIBE l/test2/test1", "SUBSCRIBE l/test6", "SUBSCRIBE l/test7/test7",
		"SUBSCRIBE l/test8/test8", "SUBSCRIBE l/test8/test9", "DELETE l/test6",
		`LIST "" (l/*2 l/test3)`,
		`LIST (SUBSCRIBED) "" l/*`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" l/test2% RETURN (CHILDREN)`,
		`LIST "" l/% RETURN (CHILDREN SUBSCRIBED)`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" l*test7`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" l*test8`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" (l/test2)`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" (l/test2 l/test2/test1)`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" l/%`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (CHILDREN)`,
		`LIST "" (l/test7 l/test7/test7)`,
		`LSUB "" l/%`, `LSUB "" %`,
		// A subscribed directory, and LIST (SUBSCRIBED) over parents.
		"SUBSCRIBE l/test4", `LSUB "" l/%`, `LSUB "" l/*`, `LIST (SUBSCRIBED) "" l/%`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" l/% RETURN (CHILDREN)`,
	}
	want := realIMAP(t, copyMbox(t, "testdata/diff/mime.mbox"), cmds)
	got := oursIMAP(t, copyMbox(t, "testdata/diff/mime.mbox"), cmds)
	for i, c := range cmds {
		tag := "x" + strconv.Itoa(i+1)
		w, g := listNorm(want[tag]), listNorm(got[tag])
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s (-dovecot +ours):\n%s", c, d)
		}
	}
}
