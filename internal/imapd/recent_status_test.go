// SPDX-License-Identifier: MIT

package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// TestStatusRecentTaken: \Recent belongs to exactly one session, so once
// a session that has the mailbox selected was given a new message's
// \Recent, another session's STATUS counts it no longer (imaptest's
// append script; Dovecot moves first_recent_uid past it). Before any
// session took it, STATUS does count it.
func TestStatusRecentTaken(t *testing.T) {
	e := newEnv(t, "127.0.0.1", nil)
	a := dial(t, e.addr, "")
	a.mustOK("LOGIN b " + passB)
	b := dial(t, e.addr, "")
	b.mustOK("LOGIN b " + passB)
	c := dial(t, e.addr, "")
	c.mustOK("LOGIN b " + passB)
	c.mustOK("CREATE r")
	msg := "Subject: x\r\n\r\nhi\r\n"
	appendCmd := fmt.Sprintf("APPEND r (\\Seen) {%d+}\r\n%s", len(msg), msg)

	// Nobody has the mailbox selected: the new message stays \Recent for all.
	c.mustOK(appendCmd)
	if got := statusLine(t, b); !strings.Contains(got, "RECENT 1") {
		t.Fatalf("STATUS with no session selected: %q, want RECENT 1", got)
	}
	// a selects and takes it; then it is no longer recent for b.
	lines := a.mustOK("SELECT r")
	if !contains(lines, "* 1 RECENT") {
		t.Fatalf("SELECT: %q, want * 1 RECENT", lines)
	}
	if got := statusLine(t, b); !strings.Contains(got, "RECENT 0") {
		t.Errorf("STATUS after a took \\Recent: %q, want RECENT 0", got)
	}
	// A second message appended by c while a has the mailbox selected.
	c.mustOK(appendCmd)
	a.mustOK("NOOP")
	if got := statusLine(t, b); !strings.Contains(got, "MESSAGES 2") || !strings.Contains(got, "RECENT 0") {
		t.Errorf("STATUS after the second append: %q, want MESSAGES 2 … RECENT 0", got)
	}
	lines = a.mustOK("FETCH 2 (FLAGS)")
	if !contains(lines, `\Recent`) {
		t.Errorf("a's FETCH 2 FLAGS: %q, want \\Recent", lines)
	}
}

func statusLine(t *testing.T, cl *client) string {
	t.Helper()
	for _, l := range cl.mustOK("STATUS r (MESSAGES RECENT)") {
		if strings.HasPrefix(l, "* STATUS") {
			return l
		}
	}
	t.Fatal("no STATUS line")
	return ""
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
