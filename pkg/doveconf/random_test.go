// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// Pieces random configurations are built from: settings of every type with
// odd spellings, and sections that may nest.
var (
	randomSettings = []string{
		"login_greeting = a b", `login_greeting = "  spaced  "`, `login_greeting = 'q\'x'`, "login_greeting = x  #y",
		"login_greeting=", "postmaster_address = a#b", `postmaster_address = "a # b"`,
		"mail_plugins = $mail_plugins quota", "mail_plugins = a\tb $mail_plugins", "mail_plugins = $mail_plugins  a   b",
		`mail_plugins = "$mail_plugins x"`, "protocols = $protocols imap", "protocols = imap  pop3", "protocols = none",
		"protocols = imaps", "mbox_min_index_size = 1kB", "mbox_min_index_size = 5 KiB", "mbox_min_index_size = 1048576",
		"mbox_lock_timeout = 1 min", "mbox_lock_timeout = 10 seconds", "mbox_lock_timeout = 1 w", "mbox_lock_timeout = 3000 ms",
		"mbox_lock_timeout = 0", "auth_policy_server_timeout_msecs = 5", "director_ping_idle_timeout = 1500 ms",
		"disable_plaintext_auth = Y", "disable_plaintext_auth = 1", "disable_plaintext_auth = NO", "ssl = no",
		"ssl = required", "ssl_cert = </x.pem", "ssl_key = </k.pem", "ssl_key =", "ssl_cert = <  /a b",
		"listen = *", "listen = 127.0.0.1, ::1", "listen = 1.2.3.4:143", "log_path = /dev/stderr",
		"auth_mechanisms = plain login", "mail_location = mbox:~/mail:INBOX=/var/mail/%u", "first_valid_uid = 0",
		"mail_max_userip_connections = 10", "login_trusted_networks = 1.2.3.4 \\\n  5.6.7.8", "hostname = x.example",
		"imap_client_workarounds = tb-extra-mailbox-sep", "login_user = x", "verbose_ssl = yes", "mail_debug = yes",
		"default_vsz_limit = 1T", "mail_cache_max_size = 512M", "doveadm_proxy_port = 5",
	}
	randomSections = map[string][]string{
		"": {"protocol imap", "protocol pop3", "protocol !imap", "local 127.0.0.1", "remote 10.0.0.0/8",
			"local_name a.example", "service imap-login", "service foo", "namespace inbox", `namespace "a b"`,
			"namespace", "passdb", "userdb", "passdb x", "plugin", "dict"},
		"service":   {"inet_listener imap", "inet_listener", "unix_listener /a/b", "unix_listener x,y", "fifo_listener a"},
		"namespace": {"mailbox Sent", `mailbox "Sent Messages"`, "mailbox a,b", `mailbox "x=y/z"`, "mailbox Trash"},
	}
	randomInner = map[string][]string{
		"service":   {"process_limit = 5", "vsz_limit = 0", "user = $default_internal_user", "client_limit = 0", "idle_kill = 1 hour", "type = login"},
		"inet":      {"port = 143", "port = 2000", "address = 127.0.0.1", "ssl = yes", "haproxy = yes", "reuse_port = 1"},
		"unix":      {"mode = 0600", "mode = 0666", "mode = 755", "user = vmail"},
		"namespace": {"inbox = yes", "separator = /", "prefix = INBOX.", "type = shared", "list = children", "mail_location = maildir:~/M"},
		"mailbox":   {`special_use = \Sent`, "auto = subscribe", "autoexpunge = 30d"},
		"db":        {"driver = pam", "args = password=abc", "args = foo key=bar", "skip = authenticated", "result_success = continue", "default_fields = a=b"},
		"strs":      {"quota = maildir", "quota_rule = *:storage=1G #c", "x_password = y", "a = b"},
	}
)

func randomConfig(r *rand.Rand) string {
	var b strings.Builder
	var gen func(kind string, depth int)
	gen = func(kind string, depth int) {
		for n := r.Intn(5); n >= 0; n-- {
			if depth < 3 && r.Intn(3) == 0 {
				var secs []string
				switch kind {
				case "", "filter":
					secs = randomSections[""]
				case "service":
					secs = randomSections["service"]
				case "namespace":
					secs = randomSections["namespace"]
				}
				if len(secs) > 0 {
					s := secs[r.Intn(len(secs))]
					sub := "filter"
					switch strings.Fields(s)[0] {
					case "service":
						sub = "service"
					case "namespace":
						sub = "namespace"
					case "passdb", "userdb":
						sub = "db"
					case "plugin", "dict":
						sub = "strs"
					case "inet_listener":
						sub = "inet"
					case "unix_listener", "fifo_listener":
						sub = "unix"
					case "mailbox":
						sub = "mailbox"
					}
					fmt.Fprintf(&b, "%s%s {\n", strings.Repeat("  ", depth), s)
					gen(sub, depth+1)
					fmt.Fprintf(&b, "%s}\n", strings.Repeat("  ", depth))
					continue
				}
			}
			pool := randomSettings
			if in, ok := randomInner[kind]; ok {
				pool = in
			}
			fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth), pool[r.Intn(len(pool))])
		}
	}
	gen("", 0)
	return b.String()
}

// TestRandomConfigsAgainstDoveconf feeds the same generated configurations
// to the real doveconf and to this package (-n and -a), with a fixed seed;
// MAILSUITE_DOVECONF_RANDOM sets how many (default 60) and
// MAILSUITE_DOVECONF_SEED another seed.
func TestRandomConfigsAgainstDoveconf(t *testing.T) {
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	count := 60
	if v, err := strconv.Atoi(os.Getenv("MAILSUITE_DOVECONF_RANDOM")); err == nil {
		count = v
	}
	seed := int64(6)
	if v, err := strconv.ParseInt(os.Getenv("MAILSUITE_DOVECONF_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewSource(seed))
	for i := 0; i < count; i++ {
		conf := randomConfig(r)
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dovecot.conf")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, all := range []bool{false, true} {
				if diff := cmp.Diff(runReal(t, bin, path, all), runOurs(path, all)); diff != "" {
					t.Fatalf("all=%v, config:\n%s\n(-doveconf +ours):\n%s", all, conf, diff)
				}
			}
		})
	}
}
