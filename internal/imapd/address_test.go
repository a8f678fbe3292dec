// SPDX-License-Identifier: MIT

package imapd

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/google/go-cmp/cmp"
)

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		name, in string
		want     []imap.Address
	}{
		{"bare", "bob@example.net", []imap.Address{{Mailbox: "bob", Host: "example.net"}}},
		{"name angle", `"Doe, John" <john@example.com>`, []imap.Address{{Name: "Doe, John", Mailbox: "john", Host: "example.com"}}},
		{"encoded word kept", "=?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>, a@b", []imap.Address{
			{Name: "=?UTF-8?Q?J=C3=BCrgen?=", Mailbox: "juergen", Host: "example.de"}, {Mailbox: "a", Host: "b"}}},
		{"empty group", "undisclosed-recipients:;", []imap.Address{{Mailbox: "undisclosed-recipients"}, {}}},
		{"group", "team: a@x, B <b@y>;, c@z", []imap.Address{
			{Mailbox: "team"}, {Mailbox: "a", Host: "x"}, {Name: "B", Mailbox: "b", Host: "y"}, {}, {Mailbox: "c", Host: "z"}}},
		// Dovecot names an addr-spec after its last comment (checked
		// against Dovecot in TestDovecotAddresses).
		{"comment", "bob@example.net (Bob Smith)", []imap.Address{{Name: "Bob Smith", Mailbox: "bob", Host: "example.net"}}},
		{"last comment", "bob@example.net (first) (Bob \\(B\\) Smith)", []imap.Address{{Name: "Bob (B) Smith", Mailbox: "bob", Host: "example.net"}}},
		{"leading comment", "(not a name) bob@example.net", []imap.Address{{Mailbox: "bob", Host: "example.net"}}},
		{"comments in angle", "<bob (x)@ (y) example.net>", []imap.Address{{Mailbox: "bob", Host: "example.net"}}},
		{"route", "Bob <@relay.example:bob@example.net>", []imap.Address{{Name: "Bob", Mailbox: "bob", Host: "example.net"}}},
		{"folded name", "Alice\r\n Example <alice@example.org>", []imap.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.org"}}},
		{"no host", "root", []imap.Address{{Mailbox: "root"}}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, parseAddresses(tc.in)); d != "" {
				t.Errorf("parseAddresses(%q) (-want +got):\n%s", tc.in, d)
			}
		})
	}
}
