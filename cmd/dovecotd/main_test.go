// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

func withoutComments(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dovecot.conf")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type outcome struct {
	Stdout, Stderr string
	Code           int
}

func ours(args ...string) outcome {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return outcome{withoutComments(out.String()), errb.String(), code}
}

func real(t *testing.T, args ...string) outcome {
	t.Helper()
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	cmd := exec.Command(bin, args...)
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
	return outcome{withoutComments(out.String()), errb.String(), code}
}

func TestServeBadConfigIsFatal(t *testing.T) {
	got := ours("-c", writeConf(t, "no_such_setting = 1\n"))
	if got.Code != exitFatal || !strings.Contains(got.Stderr, "Unknown setting: no_such_setting") {
		t.Errorf("got %+v, want exit %d and doveconf's error", got, exitFatal)
	}
}

func TestHeader(t *testing.T) {
	conf := writeConf(t, "ssl = no\n")
	var out bytes.Buffer
	if code := run([]string{"-c", conf, "-n"}, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(first, "# ") || !strings.HasSuffix(first, ": "+conf) {
		t.Errorf("header %q does not name the configuration", first)
	}
	if got := withoutComments(out.String()); got != "ssl = no\n" {
		t.Errorf("output %q", got)
	}
}

func TestAgainstDoveconf(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
	}{
		{"seed", "protocols = imap pop3\nlisten = *\nmail_location = mbox:~/mail:INBOX=/var/mail/%u\ndisable_plaintext_auth = no\n"},
		{"sections", "namespace inbox {\n  inbox = yes\n  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }\n}\nprotocol imap {\n  mail_max_userip_connections = 20\n}\n"},
		{"warning", "login_greeting = a#b\n"},
		{"unknown-setting", "ssl = yes\nmail_lcoation = x\n"},
		{"missing-close", "protocol imap {\n"},
		{"check-error", "protocols = imap smtp\n"},
	} {
		for _, mode := range []string{"-n", "-a"} {
			t.Run(tc.name+mode, func(t *testing.T) {
				conf := writeConf(t, tc.conf)
				if diff := cmp.Diff(real(t, "-c", conf, mode), ours("-c", conf, mode)); diff != "" {
					t.Errorf("(-doveconf +dovecotd):\n%s", diff)
				}
			})
		}
	}
	t.Run("missing-file", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "none.conf")
		if diff := cmp.Diff(real(t, "-c", conf, "-n"), ours("-c", conf, "-n")); diff != "" {
			t.Errorf("(-doveconf +dovecotd):\n%s", diff)
		}
	})
}
