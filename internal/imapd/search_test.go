// SPDX-License-Identifier: MIT

package imapd

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// addressCmds look at address headers the way imaptest's fetch-envelope
// and search-addresses scripts do: comments as display names, comments
// inside angle addresses, groups; and at "n:*" past the last UID.
var addressCmds = []string{
	"FETCH 1:* (UID ENVELOPE)",
	"SEARCH FROM alice@example.org",
	"SEARCH FROM \"Alice Liddell\"",
	"SEARCH FROM \"in the angle\"",
	"SEARCH TO bob@example.net",
	"SEARCH TO \"Bob <bob@\"",
	"SEARCH CC dave@example.com",
	"SEARCH CC \"leading comment\"",
	"SEARCH CC \"odd local\"",
	"SEARCH TO friends",
	"SEARCH TO carol",
	"SEARCH FROM relay",
	"SEARCH CHARSET UTF-8 FROM {11+}\r\nWünderland",
	"SEARCH HEADER FROM \"(Alice\"",
	"SEARCH HEADER to \"(x)\"",
	"SEARCH HEADER Reply-To escaped",
	"UID SEARCH 1:*",
	"UID SEARCH 3:*",
	"UID SEARCH 99:*",
	"UID SEARCH *:99",
	"UID SEARCH 99",
	"SEARCH UID 99:*",
	"SEARCH 3:*",
}

// TestDovecotAddresses compares ENVELOPE and address SEARCH with real
// Dovecot's imap on testdata/addresses.mbox.
func TestDovecotAddresses(t *testing.T) {
	const f = "testdata/addresses.mbox"
	cmds := append([]string{"SELECT INBOX"}, addressCmds...)
	want := realIMAP(t, copyMbox(t, f), cmds)
	got := oursIMAP(t, copyMbox(t, f), cmds)
	for i, c := range cmds[1:] {
		tag := "x" + strconv.Itoa(i+2)
		w, g := normalize(want[tag]), normalize(got[tag])
		if c == "FETCH 1:* (UID ENVELOPE)" {
			// go-imap has no source-route (ADL) field: Dovecot's
			// "@relay.example.org" comes out as NIL.
			for j := range w {
				w[j] = strings.ReplaceAll(w[j], `(NIL "@relay.example.org" "alice"`, `(NIL NIL "alice"`)
			}
		}
		// go-imap writes a space between the addresses of a list,
		// Dovecot none.
		for _, l := range [][]string{w, g} {
			for j := range l {
				l[j] = strings.ReplaceAll(l[j], ") (", ")(")
			}
		}
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s (-dovecot +ours):\n%s", c, d)
		}
	}
}
