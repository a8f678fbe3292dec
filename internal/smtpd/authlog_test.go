// SPDX-License-Identifier: MIT

package smtpd

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAuthFailureLog checks the AUTH failure lines against the forms
// sendmail logs over saslauthd: "checkpass failed" for LOGIN, "Password
// verification failed" for PLAIN, the mechanism as the client spelled
// it, and user= naming the identity tried.
func TestAuthFailureLog(t *testing.T) {
	e := newEnv(t, envOpts{auth: AuthFunc(checkAuth)})
	c := e.dial(t, untrustedIP)
	c.reply()
	c.cmd("EHLO x")
	b64 := base64.StdEncoding.EncodeToString
	runSteps(t, c, []step{
		{"AUTH login", "334 VXNlcm5hbWU6"},
		{b64([]byte("b")), "334 UGFzc3dvcmQ6"},
		{b64([]byte("wrong")), "535 5.7.0 authentication failed"},
		{"AUTH PLAIN " + b64([]byte("\x00nosuch\x00x")), "535 5.7.0 authentication failed"},
		{"AUTH plain " + b64([]byte("\x00b\x00secret")), "235 2.0.0 OK Authenticated"},
	})
	c.cmd("QUIT")
	re := regexp.MustCompile(`sendmail\[\d+\]: \w{14}: (AUTH.*)`)
	var got []string
	for _, l := range strings.Split(e.log.String(), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			got = append(got, m[1])
		}
	}
	want := []string{
		"AUTH failure (login): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=b, relay=[127.1.0.5]",
		"AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=nosuch, relay=[127.1.0.5]",
		"AUTH=server, relay=[127.1.0.5], authid=b, mech=plain, bits=0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AUTH log lines (-want +got):\n%s", diff)
	}
}
