// SPDX-License-Identifier: MIT

package doveconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// brokenConfigs are configurations doveconf refuses, with its message.
// "<dir>" stands for the temporary directory holding the files; the main
// file is dovecot.conf.
var brokenConfigs = []struct {
	name    string
	files   map[string]string
	want    string
	partial bool // the tree was read: doveconf still prints it
}{
	{name: "unknown-setting", files: map[string]string{"dovecot.conf": "ssl = yes\nmail_lcoation = mbox:~/mail\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Unknown setting: mail_lcoation"},
	{name: "unknown-in-section", files: map[string]string{"dovecot.conf": "service imap-login {\n  inet_listener imap {\n    prot = 1\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 3: Unknown setting: service { inet_listener { prot"},
	{name: "unknown-section", files: map[string]string{"dovecot.conf": "foo {\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Unknown setting: foo { foo"},
	{name: "case-sensitive", files: map[string]string{"dovecot.conf": "SSL = no\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Unknown setting: SSL"},
	{name: "no-equals", files: map[string]string{"dovecot.conf": "login_greeting hello\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Expecting '{'"},
	{name: "two-section-names", files: map[string]string{"dovecot.conf": "protocol imap pop3 {\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Expecting '{'"},
	{name: "garbage-after-brace", files: map[string]string{"dovecot.conf": "protocol imap { ssl = yes }\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Garbage after '{'"},
	{name: "unexpected-close", files: map[string]string{"dovecot.conf": "ssl = yes\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Unexpected '}'"},
	{name: "missing-close", files: map[string]string{"dovecot.conf": "ssl = yes\nprotocol imap {\n  ssl = no\n"},
		want: "Error in configuration file <dir>/dovecot.conf: Missing '}' (section started at <dir>/dovecot.conf:2)", partial: true},
	{name: "bool", files: map[string]string{"dovecot.conf": "disable_plaintext_auth = true\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid boolean value: true (use yes or no)"},
	{name: "uint", files: map[string]string{"dovecot.conf": "first_valid_uid = abc\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid number abc: Not a valid number"},
	{name: "uint-negative", files: map[string]string{"dovecot.conf": "first_valid_uid = -5\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid number -5: Number too small"},
	{name: "uint-large", files: map[string]string{"dovecot.conf": "last_valid_uid = 99999999999\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid number 99999999999: Number too large"},
	{name: "octal", files: map[string]string{"dovecot.conf": "service imap {\n  unix_listener x {\n    mode = 0999\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 3: Invalid number: 0999"},
	{name: "size", files: map[string]string{"dovecot.conf": "mbox_min_index_size = 64 Q\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid size: 64 Q"},
	{name: "time", files: map[string]string{"dovecot.conf": "mbox_lock_timeout = 2 fortnights\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid time interval: 2 fortnights"},
	{name: "time-no-unit", files: map[string]string{"dovecot.conf": "mbox_lock_timeout = 300\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Time interval '300' is missing units (add e.g. 's' for seconds)"},
	{name: "time-ms", files: map[string]string{"dovecot.conf": "mbox_lock_timeout = 500 ms\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Milliseconds not supported for this setting: 500 ms"},
	{name: "enum", files: map[string]string{"dovecot.conf": "ssl = maybe\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid value: maybe"},
	{name: "port", files: map[string]string{"dovecot.conf": "service imap-login {\n  inet_listener imap {\n    port = 99999\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 3: Invalid port number 99999"},
	{name: "include-missing", files: map[string]string{"dovecot.conf": "!include missing.conf\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: No matches"},
	{name: "include-quoted", files: map[string]string{"dovecot.conf": "!include \"sub/x.conf\"\n", "sub/x.conf": "ssl = no\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: No matches"},
	{name: "include-glob-empty", files: map[string]string{"dovecot.conf": "!include conf.d/*.conf\n", "conf.d/a.ext": ""},
		want: "Error in configuration file <dir>/dovecot.conf line 1: No matches"},
	{name: "error-in-include", files: map[string]string{"dovecot.conf": "# first\n!include inc/*.conf\n", "inc/a.conf": "ssl = yes\nbogus_in_include = 1\n"},
		want: "Error in configuration file <dir>/inc/a.conf line 2: Unknown setting: bogus_in_include"},
	{name: "recursive-include", files: map[string]string{"dovecot.conf": "!include a.conf\n", "a.conf": "!include a.conf\n"},
		want: "Error in configuration file <dir>/a.conf line 1: Recursive include file: <dir>/a.conf"},
	{name: "nested-protocol", files: map[string]string{"dovecot.conf": "protocol imap {\n  protocol pop3 {\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Nested protocol { protocol { .. } } block not allowed"},
	{name: "remote-local", files: map[string]string{"dovecot.conf": "remote 1.2.3.4 {\n  local 1.2.3.4 {\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: remote { local { .. } } not allowed (use local { remote { .. } } instead)"},
	{name: "protocol-local", files: map[string]string{"dovecot.conf": "protocol imap {\n  local 1.2.3.4 {\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: protocol { local { .. } } not allowed (use local { protocol { .. } } instead)"},
	{name: "net-mask", files: map[string]string{"dovecot.conf": "local 10.0.0.0/33 {\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Invalid network mask: 33"},
	{name: "net-outside", files: map[string]string{"dovecot.conf": "local 10.0.0.0/8 {\n  local 11.0.0.1 {\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: local net1 { local net2 { .. } } requires net2 to be inside net1"},
	{name: "passdb-duplicate-name", files: map[string]string{"dovecot.conf": "passdb a {\n  driver = pam\n}\npassdb a {\n  driver = pam\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 4: passdb/a already exists"},
	{name: "auth-in-local", files: map[string]string{"dovecot.conf": "local 127.0.0.1 {\n  auth_mechanisms = plain login\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Auth settings not supported inside local/remote blocks: auth_mechanisms"},
	{name: "passdb-in-remote", files: map[string]string{"dovecot.conf": "remote 127.0.0.1 {\n  passdb {\n    driver = pam\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Auth settings not supported inside local/remote blocks: passdb"},
	{name: "section-in-plugin", files: map[string]string{"dovecot.conf": "plugin {\n  foo {\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Section not allowed here"},
	{name: "missing-key", files: map[string]string{"dovecot.conf": "= value\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 1: Missing key name ('=' at the beginning of line)"},
	{name: "self-variable-in-section", files: map[string]string{"dovecot.conf": "service imap {\n  user = $user x\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Unknown variable: $user"},
	{name: "setting-as-section", files: map[string]string{"dovecot.conf": "login_greeting {\n  x = 1\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf line 2: Unknown setting: login_greeting { x"},
	{name: "unknown-protocol", files: map[string]string{"dovecot.conf": "protocols = imap smtp\n"},
		want: "Error in configuration file <dir>/dovecot.conf: protocols: Unknown protocol: smtp", partial: true},
	{name: "passdb-without-driver", files: map[string]string{"dovecot.conf": "passdb {\n  args = /etc/x\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf: passdb is missing driver", partial: true},
	{name: "userdb-without-driver", files: map[string]string{"dovecot.conf": "userdb {\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf: userdb is missing driver", partial: true},
	{name: "filter-conflict", files: map[string]string{"dovecot.conf": "protocol imap {\n  login_greeting = a\n}\nlocal 1.2.3.4 {\n  protocol imap {\n    login_greeting = y\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf: Conflict in setting login_greeting found from filter at <dir>/dovecot.conf:1", partial: true},
	{name: "duplicate-listener", files: map[string]string{"dovecot.conf": "protocols = imap\nservice imap-login {\n  inet_listener imap {\n    port = 993\n  }\n}\n"},
		want: "Error in configuration file <dir>/dovecot.conf: duplicate listener: 993:", partial: true},
	{name: "uid-range", files: map[string]string{"dovecot.conf": "first_valid_uid = 1000\nlast_valid_uid = 500\n"},
		want: "Error in configuration file <dir>/dovecot.conf: first_valid_uid can't be larger than last_valid_uid", partial: true},
	{name: "cache-size", files: map[string]string{"dovecot.conf": "mail_cache_max_size = 2G\n"},
		want: "Error in configuration file <dir>/dovecot.conf: mail_cache_max_size can't be over 1 GB", partial: true},
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBrokenConfigs(t *testing.T) {
	for _, tc := range brokenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			cfg, err := Load(filepath.Join(dir, "dovecot.conf"), Options{})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want *Error", err)
			}
			want := strings.ReplaceAll(tc.want, "<dir>", dir)
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if (cfg != nil) != tc.partial {
				t.Errorf("config returned: %v, want %v", cfg != nil, tc.partial)
			}
		})
	}
}

// TestBrokenConfigsAgainstDoveconf checks the table's expectations with the
// real doveconf: the same last stderr line and exit status 89.
func TestBrokenConfigsAgainstDoveconf(t *testing.T) {
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	for _, tc := range brokenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			conf := filepath.Join(dir, "dovecot.conf")
			real := runReal(t, bin, conf, false)
			lines := strings.Split(strings.TrimSuffix(real.Stderr, "\n"), "\n")
			want := "doveconf: Fatal: " + strings.ReplaceAll(tc.want, "<dir>", dir)
			if diff := cmp.Diff(want, lines[len(lines)-1]); diff != "" {
				t.Errorf("doveconf's message differs from the table (-table +doveconf):\n%s", diff)
			}
			if real.Code != 89 {
				t.Errorf("doveconf exit status %d, want 89", real.Code)
			}
			if diff := cmp.Diff(real, runOurs(conf, false)); diff != "" {
				t.Errorf("(-doveconf +ours):\n%s", diff)
			}
		})
	}
}
