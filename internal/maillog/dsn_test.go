// SPDX-License-Identifier: MIT

package maillog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The lines the real sendmail 8.17 logged for a bounce it sent about a
// 550 (captured from internal/deliver/remote's oracle run).
func TestDSNLines(t *testing.T) {
	l, buf := newTest("sendmail", 27116)
	l.DSN("6AR54xjK027116", "6AR54xjL027116", "User unknown", false)
	l.To("6AR54xjL027116", To{Rcpt: "sender@sender.example", Mailer: "relay", Pri: 31069,
		Relay: "[127.0.0.13] [127.0.0.13]", DSN: "2.0.0", Stat: "Sent (Ok: queued as ABC123)"})
	l.DSN("6AR54xjL027116", "6AR54xjM027116", "Cannot send message for 5 days", true)
	want := []string{
		"Nov 27 01:01:09 mail sendmail[27116]: 6AR54xjK027116: 6AR54xjL027116: DSN: User unknown",
		"Nov 27 01:01:09 mail sendmail[27116]: 6AR54xjL027116: to=sender@sender.example, delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=31069, relay=[127.0.0.13] [127.0.0.13], dsn=2.0.0, stat=Sent (Ok: queued as ABC123)",
		"Nov 27 01:01:09 mail sendmail[27116]: 6AR54xjL027116: 6AR54xjM027116: postmaster notify: Cannot send message for 5 days",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
