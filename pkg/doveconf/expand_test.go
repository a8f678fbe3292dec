// SPDX-License-Identifier: MIT

package doveconf

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

var expandConfigs = []struct {
	name  string
	files map[string]string
}{
	{"references", map[string]string{"dovecot.conf": "login_greeting = hi\nhostname = $login_greeting x $ENV:HOME $ENV:MAILSUITE_NO_SUCH_VAR\n" +
		"protocol imap {\n  login_greeting = imap\n  hostname = $login_greeting\n  postmaster_address = $ssl\n}\n" +
		"protocol pop3 {\n  hostname = $login_greeting\n}\n" +
		"service imap {\n  user = $default_internal_user\n}\n" +
		"mail_plugins = $first_valid_uid $disable_plaintext_auth $mbox_lock_timeout\nmail_plugins = $mail_plugins more\n"}},
	{"files", map[string]string{"dovecot.conf": "ssl_cert = <cert.pem\nlogin_greeting = <  sub/greeting.txt\n", "cert.pem": "-----BEGIN-----\nabc\n", "sub/greeting.txt": "Hello\n"}},
	{"missing-file", map[string]string{"dovecot.conf": "service imap {\n  executable = <nofile\n}\n"}},
	{"unknown-variable", map[string]string{"dovecot.conf": "login_greeting = pre-$x-post $nosuchsetting hi\n"}},
	{"invalid-variable", map[string]string{"dovecot.conf": "login_greeting = $plugin\n"}},
	{"quoted-not-expanded", map[string]string{"dovecot.conf": "login_greeting = \"$hostname\"\n"}},
}

// TestExpandAgainstDoveconf compares Options.Expand with doveconf -x -n.
func TestExpandAgainstDoveconf(t *testing.T) {
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	for _, tc := range expandConfigs {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			conf := filepath.Join(dir, "dovecot.conf")
			cmd := exec.Command(bin, "-x", "-c", conf, "-n")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			code := 0
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatal(err)
				}
				code = ee.ExitCode()
			}
			real := result{stripHeader(out.String()), errb.String(), code}

			var gotOut, gotErr bytes.Buffer
			cfg, err := Load(conf, Options{Expand: true})
			if cfg != nil {
				_ = cfg.Dump(&gotOut, false)
			}
			gotCode := 0
			if err != nil {
				fmt.Fprintf(&gotErr, "doveconf: Fatal: %s\n", err)
				gotCode = 89
			}
			ours := result{gotOut.String(), gotErr.String(), gotCode}
			if diff := cmp.Diff(real, ours); diff != "" {
				t.Errorf("(-doveconf -x +ours):\n%s", diff)
			}
		})
	}
}

func TestExpandFiles(t *testing.T) {
	dir := writeFiles(t, expandConfigs[1].files)
	cfg, err := Load(filepath.Join(dir, "dovecot.conf"), Options{Expand: true})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Settings(Match{Protocol: "imap"})
	if s.SSLCert != "-----BEGIN-----\nabc\n" || s.LoginGreeting != "Hello\n" {
		t.Errorf("ssl_cert %q, login_greeting %q", s.SSLCert, s.LoginGreeting)
	}
	_, err = Load(filepath.Join(writeFiles(t, expandConfigs[2].files), "dovecot.conf"), Options{Expand: true})
	if err == nil || !strings.Contains(err.Error(), "service/imap/executable: Can't open file") {
		t.Errorf("missing file: %v", err)
	}
}
