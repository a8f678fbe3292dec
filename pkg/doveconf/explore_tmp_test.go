package doveconf

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var pieces = []string{
	"login_greeting = a b\n", "login_greeting = \"  spaced  \"\n", "login_greeting = 'q\\'x'\n",
	"mail_plugins = $mail_plugins quota\n", "mail_plugins = a\tb $mail_plugins\n", "protocols = $protocols imap\n",
	"protocols = imap\n", "protocols = none\n", "protocols = pop3 imap lmtp\n",
	"mbox_min_index_size = 1kB\n", "mbox_min_index_size = 5 KiB\n", "mbox_min_index_size = 0\n", "mbox_min_index_size = 1048576\n",
	"mbox_lock_timeout = 1 min\n", "mbox_lock_timeout = 10 seconds\n", "mbox_lock_timeout = 1 w\n", "mbox_lock_timeout = 120s\n", "mbox_lock_timeout = 0\n", "mbox_lock_timeout = 3000 ms\n",
	"auth_policy_server_timeout_msecs = 5\n", "director_ping_idle_timeout = 5s\n",
	"disable_plaintext_auth = Y\n", "disable_plaintext_auth = 1\n", "disable_plaintext_auth = NO\n",
	"ssl = no\n", "ssl = required\n", "ssl_cert = </x.pem\n", "ssl_key = </k.pem\n", "ssl_key = \n",
	"protocol imap {\n", "protocol pop3 {\n", "protocol !imap {\n", "local 127.0.0.1 {\n", "remote 10.0.0.0/8 {\n", "local_name a.example {\n", "local ::1 {\n", "remote fe80::/10 {\n",
	"}\n", "}\n", "}\n",
	"service imap-login {\n", "service foo {\n", "inet_listener imap {\n", "inet_listener {\n", "unix_listener /a/b {\n", "unix_listener x,y {\n",
	"port = 143\n", "port = 2000\n", "address = 127.0.0.1\n", "mode = 0600\n", "mode = 0666\n", "mode = 755\n", "user = $default_internal_user\n", "vsz_limit = 0\n", "process_limit = 5\n",
	"namespace inbox {\n", "namespace {\n", "namespace \"a b\" {\n", "mailbox Sent {\n", "mailbox \"Sent Messages\" {\n", "mailbox a,b {\n", "mailbox \"x=y/z\" {\n",
	"special_use = \\Sent\n", "auto = subscribe\n", "inbox = yes\n", "separator = /\n", "prefix = INBOX.\n",
	"passdb {\n", "userdb {\n", "passdb x {\n", "driver = pam\n", "args = password=abc\n", "args = foo key=bar\n",
	"plugin {\n", "dict {\n", "quota = maildir\n", "quota_rule = *:storage=1G #c\n", "x_password = y\n",
	"# comment\n", "\n", "  \t \n", "login_trusted_networks = 1.2.3.4 \\\n", "  5.6.7.8\n", "mail_location = mbox:~/mail:INBOX=/var/mail/%u\n",
	"postmaster_address = a#b\n", "hostname = x.example\n", "mail_max_userip_connections = 10\n", "first_valid_uid = 0\n",
	"listen = *\n", "listen = 127.0.0.1, ::1\n", "log_path = /dev/stderr\n", "auth_mechanisms = plain login\n",
	"import_environment = A=1 \\\n", "  B=$x\n", "login_log_format = %$: %s\n", "mail_attribute_dict = file:%h/x\n",
	"metric m {\n", "filter = event=imap_command_finished\n", "event_exporter e {\n", "format = json\n",
	"verbose_ssl = yes\n", "mail_debug = yes\n", "auth_verbose = yes\n", "imap_client_workarounds = tb-extra-mailbox-sep\n",
}

func TestExploreRandom(t *testing.T) {
	bin := os.Getenv("EXPLORE_DOVECONF")
	if bin == "" {
		t.Skip()
	}
	r := rand.New(rand.NewSource(int64(len(os.Getenv("SEED")) + 7)))
	fails := 0
	okc, errc := 0, 0
	defer func() { fmt.Println("ok", okc, "err", errc) }()
	for i := 0; i < 400 && fails < 8; i++ {
		var b strings.Builder
		n := 1 + r.Intn(14)
		for j := 0; j < n; j++ {
			b.WriteString(pieces[r.Intn(len(pieces))])
		}
		dir := t.TempDir()
		conf := filepath.Join(dir, "dovecot.conf")
		os.WriteFile(conf, []byte(b.String()), 0o644)
		for _, all := range []bool{false, true} {
			real := runReal(t, bin, conf, all)
			ours := runOurs(conf, all)
			if real.Code == 0 {
				okc++
			} else {
				errc++
			}
			if diff := cmp.Diff(real, ours); diff != "" {
				fails++
				fmt.Printf("=== CONFIG %d all=%v\n%s\n--- diff\n%s\n", i, all, b.String(), diff)
				break
			}
		}
	}
}
