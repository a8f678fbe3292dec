// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailsuite/pkg/mbox"
)

// TestReadAfterOtherWriterExpunged: another writer (a POP3 session's
// expunge, real Dovecot) removes messages in place while a session has
// the mailbox selected, and the session's watcher has not noticed yet
// (here it never does: no inotify, no periodic check). FETCH, SEARCH and
// COPY read message bytes; they must read them where the messages are
// now, not at the offsets of the session's old view (which gave another
// message's text, or a literal cut short by the shrunken file).
func TestReadAfterOtherWriterExpunged(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.IdleCheck = time.Hour })
	e.srv.noInotify.Store(true)
	for i := 0; i < 4; i++ {
		deliver(t, e.spool, fmt.Sprintf("From d@x  Fri Nov 27 02:00:00 2026\nSubject: deliv-%d\n\nbody of deliv-%d %s\n", i, i, strings.Repeat("x", 40*i)))
	}
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("SELECT INBOX")
	uids := map[string]string{}
	uidRE := regexp.MustCompile(`UID (\d+) .*Subject: (\S+)`)
	for _, l := range cl.mustOK("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])") {
		if m := uidRE.FindStringSubmatch(strings.ReplaceAll(l, "\n", " ")); m != nil {
			uids[m[2]] = m[1]
		}
	}
	if len(uids) != 5 {
		t.Fatalf("UIDs: %v", uids)
	}

	// Another writer expunges the first three messages.
	ctx := context.Background()
	mb, err := mbox.Open(ctx, e.spool, mbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mb.Messages()[:3] {
		must(t, mb.SetFlags(m.UID, m.Flags|mbox.Deleted, m.Keywords))
	}
	if _, err := mb.Expunge(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, mb.Close(ctx))

	for _, subj := range []string{"deliv-3", "deliv-2"} {
		lines := cl.mustOK("UID FETCH " + uids[subj] + " (BODY.PEEK[TEXT] ENVELOPE)")
		want := fmt.Sprintf("body of %s %s", subj, strings.Repeat("x", 40*int(subj[len(subj)-1]-'0')))
		var got string
		for _, l := range lines {
			if strings.Contains(l, "BODY[TEXT]") {
				got = l
			}
		}
		if !strings.Contains(got, want) || !strings.Contains(got, `"`+subj+`"`) {
			t.Errorf("UID FETCH %s (%s): %q, want its body %q and subject", uids[subj], subj, got, want)
		}
	}
	lines := cl.mustOK("UID SEARCH BODY deliv-3")
	if want := "* SEARCH " + uids["deliv-3"]; len(lines) == 0 || lines[0] != want {
		t.Errorf("UID SEARCH BODY deliv-3: %q, want %q", lines, want)
	}
	cl.mustOK("CREATE Other")
	cl.mustOK("UID COPY " + uids["deliv-3"] + " Other")
	o := dial(t, e.addr, "")
	o.mustOK("LOGIN b " + passB)
	o.mustOK("SELECT Other")
	lines = o.mustOK("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
	if len(lines) != 1 || !strings.Contains(lines[0], "Subject: deliv-3") {
		t.Errorf("copied message: %q", lines)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
