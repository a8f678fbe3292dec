// SPDX-License-Identifier: MIT

package maillog

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAuthFailureDetail pins the LOGAUTHFAIL lines sendmail 8.16+ writes
// over saslauthd, in the forms fail2ban's own sendmail-auth samples
// record for LOGIN and PLAIN.
func TestAuthFailureDetail(t *testing.T) {
	l, buf := newTest("sendmail", 5976)
	l.AuthFailureDetail("09DJDgOM005976", "login", SASLDetail("login"), "test", "host.example.com [192.0.2.7] (may be forged)")
	l.AuthFailureDetail("09DJDgOM005976", "PLAIN", SASLDetail("PLAIN"), "test", "host.example.com [192.0.2.8]")
	l.AuthFailureDetail("26H8MRrS025411", "LOGIN", SASLDetail("LOGIN"), "", "[192.0.2.9]")
	want := []string{
		"Nov 27 01:01:09 mail sendmail[5976]: 09DJDgOM005976: AUTH failure (login): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=test, relay=host.example.com [192.0.2.7] (may be forged)",
		"Nov 27 01:01:09 mail sendmail[5976]: 09DJDgOM005976: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=test, relay=host.example.com [192.0.2.8]",
		"Nov 27 01:01:09 mail sendmail[5976]: 26H8MRrS025411: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, relay=[192.0.2.9]",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
