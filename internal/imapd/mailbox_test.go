// SPDX-License-Identifier: MIT

package imapd

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/pkg/doveconf"
)

// TestMailboxCommands runs the authenticated-state commands in one
// session and pins each reply (UIDVALIDITY values replaced by V).
func TestMailboxCommands(t *testing.T) {
	e := newEnv(t, "127.0.0.1", func(c *Config) {
		c.Mailboxes = []doveconf.Mailbox{{Name: "Sent", SpecialUse: []string{`\Sent`}}, {Name: "Trash", SpecialUse: []string{`\Trash`}}}
	})
	cl := dial(t, e.addr, "")
	cl.mustOK("LOGIN b " + passB)
	uv := regexp.MustCompile(`(UIDVALIDITY|APPENDUID|COPYUID) \d+`)
	steps := []struct{ cmd, want string }{
		{"NAMESPACE", `* NAMESPACE (("" "/")) NIL NIL|OK`},
		{`LIST "" ""`, `* LIST (\Noselect) "/" ""|OK`},
		{"CREATE Sent", "OK"},
		{"CREATE work/projects", "OK"},
		{"CREATE Sent", "NO [ALREADYEXISTS]"},
		{"SUBSCRIBE Sent", "OK"},
		{`LIST "" "*"`, `* LIST (\HasNoChildren) "/" INBOX|* LIST (\NoInferiors \Sent) "/" "Sent"|* LIST (\Noselect \HasChildren) "/" "work"|* LIST (\NoInferiors) "/" "work/projects"|OK`},
		{`LIST (SUBSCRIBED) "" "*"`, `* LIST (\Subscribed \NoInferiors \Sent) "/" "Sent"|OK`},
		{`LIST (SPECIAL-USE) "" "*"`, `* LIST (\NoInferiors \Sent) "/" "Sent"|OK`},
		{"APPEND Sent (\\Seen) {21+}\r\nSubject: x\r\n\r\nHello\r\n", "OK [APPENDUID V 1]"},
		{"APPEND Nope {2+}\r\nhi", "NO [TRYCREATE]"},
		{"STATUS Sent (MESSAGES UIDNEXT UNSEEN SIZE)", `* STATUS "Sent" (MESSAGES 1 UIDNEXT 2 UNSEEN 0 SIZE 21)|OK`},
		{`LIST "" "Sent" RETURN (STATUS (MESSAGES))`, `* LIST (\NoInferiors \Sent) "/" "Sent"|* STATUS "Sent" (MESSAGES 1)|OK`},
		{"SELECT INBOX", ""},
		{"COPY 1 Sent", "OK [COPYUID V 1 2]"},
		{"MOVE 1 work/projects", "* OK [COPYUID V 1 1] COPY completed|* 1 EXPUNGE|* 0 RECENT|OK"},
		{"STATUS Sent (MESSAGES)", `* STATUS "Sent" (MESSAGES 2)|OK`},
		{"RENAME work/projects archive", "OK"},
		{"STATUS archive (MESSAGES)", `* STATUS "archive" (MESSAGES 1)|OK`},
		{"DELETE archive", "OK"},
		{"SELECT archive", "* OK [CLOSED] Previous mailbox is now closed|NO [NONEXISTENT]"},
		{"DELETE INBOX", "NO"},
	}
	for _, s := range steps {
		lines, st := cl.cmd(s.cmd)
		if s.want == "" {
			continue
		}
		if strings.HasPrefix(st, "OK") && !strings.Contains(s.want, "[") {
			st = "OK"
		} else if i := strings.Index(st, "]"); i > 0 {
			st = st[:i+1]
		} else {
			st, _, _ = strings.Cut(st, " ")
		}
		got := uv.ReplaceAllString(strings.Join(append(lines, st), "|"), "$1 V")
		if d := cmp.Diff(s.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", s.cmd, d)
		}
	}
}

// TestRecentOneSession: \Recent goes to exactly one session, also for a
// message delivered while both have the mailbox selected.
func TestRecentOneSession(t *testing.T) {
	e := newEnv(t, "127.0.0.1", nil)
	a := dial(t, e.addr, "")
	a.mustOK("LOGIN b " + passB)
	b := dial(t, e.addr, "")
	b.mustOK("LOGIN b " + passB)
	recent := func(lines []string) string {
		for _, l := range lines {
			if strings.HasSuffix(l, " RECENT") {
				return l
			}
		}
		return ""
	}
	if r := recent(a.mustOK("SELECT INBOX")); r != "* 1 RECENT" {
		t.Errorf("first session: %q", r)
	}
	if r := recent(b.mustOK("SELECT INBOX")); r != "* 0 RECENT" {
		t.Errorf("second session: %q", r)
	}
	deliver(t, e.spool, "From c@hamap.local  Fri Nov 27 02:00:00 2026\nSubject: new\n\nnew\n")
	la := a.mustOK("NOOP")
	lb := b.mustOK("NOOP")
	for i := 0; i < 20 && (len(la) == 0 || len(lb) == 0); i++ {
		// The watcher may not have run yet; NOOP syncs anyway.
		if len(la) == 0 {
			la = a.mustOK("NOOP")
		}
		if len(lb) == 0 {
			lb = b.mustOK("NOOP")
		}
	}
	ra, rb := recent(la), recent(lb)
	if !(ra == "* 2 RECENT" && rb == "") && !(ra == "" && rb == "* 1 RECENT") {
		t.Errorf("after delivery: a %q (%q), b %q (%q); want the new message recent in exactly one", ra, la, rb, lb)
	}
	fa := a.mustOK("FETCH 2 FLAGS")
	fb := b.mustOK("FETCH 2 FLAGS")
	n := 0
	for _, l := range append(fa, fb...) {
		if strings.Contains(l, `\Recent`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("message 2 is \\Recent in %d sessions: %q %q", n, fa, fb)
	}
}
