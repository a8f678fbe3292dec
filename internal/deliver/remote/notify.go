// SPDX-License-Identifier: MIT

package remote

import (
	"strings"
	"time"

	"mailsuite/internal/dsn"
)

// Notification turns a Result into the recipient part of a bounce or
// delay warning, with the fields the real sendmail wrote for the same
// failure: Action failed or delayed, Status, Remote-MTA without the
// final dot of a DNS name, Diagnostic-Code from the far reply, and
// last as Last-Attempt-Date. A sent recipient gives Action delivered.
func (r Result) Notification(orcpt string, last time.Time) dsn.Recipient {
	rc := dsn.Recipient{Addr: r.Rcpt, Status: r.DSN, LastAttempt: last,
		RemoteMTA: strings.TrimSuffix(r.RemoteMTA, "."), Original: orcpt}
	switch {
	case r.Sent():
		rc.Action = "relayed"
		if r.Reply != "" {
			rc.Action = "delivered"
		}
	case r.Temporary():
		rc.Action = "delayed"
	default:
		rc.Action = "failed"
	}
	if !r.Sent() {
		rc.Diagnostic = r.Reply
		if r.Reply == "" {
			// No far reply (routing, connection): the reason is our
			// own stat text, as sendmail's "(reason: …)" is.
			rc.Reason = r.Stat
		}
	}
	return rc
}
