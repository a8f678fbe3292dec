// SPDX-License-Identifier: MIT

package maillog

import (
	"fmt"
	"strings"
)

// The error details Cyrus SASL hands sendmail for a wrong password when
// Sendmail.conf says "pwcheck_method: saslauthd", as Debian's and
// Rocky's packages install it: the LOGIN mechanism reports the library's
// own "checkpass failed", the PLAIN plugin replaces it with its
// "Password verification failed". A user saslauthd does not know fails
// the same way as a wrong password.
const (
	SASLCheckpassFailed      = "checkpass failed"
	SASLPasswordVerification = "Password verification failed"
)

// SASLDetail returns the Cyrus error detail sendmail logs for a failed
// AUTH with mech (any case) over saslauthd.
func SASLDetail(mech string) string {
	if strings.EqualFold(mech, "LOGIN") {
		return SASLCheckpassFailed
	}
	return SASLPasswordVerification
}

// AuthFailureDetail logs a failed SMTP AUTH in sendmail's LOGAUTHFAIL
// form: "AUTH failure (LOGIN): authentication failure (-13) SASL(-13):
// authentication failure: checkpass failed, user=b, relay=[ip]". mech is
// the mechanism as the client spelled it (sendmail logs it so); user ""
// leaves user= out.
func (l *Logger) AuthFailureDetail(qid, mech, detail, user, relay string) {
	u := ""
	if user != "" {
		u = ", user=" + user
	}
	l.Log(MailWarn, withQID(qid, fmt.Sprintf("AUTH failure (%s): authentication failure (-13) SASL(-13): authentication failure: %s%s, relay=%s", mech, detail, u, relay)))
}
