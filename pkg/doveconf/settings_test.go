// SPDX-License-Identifier: MIT

package doveconf

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSettingsDebian(t *testing.T) {
	cfg, err := Load(debianTree(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Settings(Match{Protocol: "imap"})
	got := map[string]any{
		"protocols":              s.Protocols,
		"listen":                 s.Listen,
		"ssl":                    s.SSL,
		"ssl_cert":               s.SSLCert,
		"ssl_key":                s.SSLKey,
		"disable_plaintext_auth": s.DisablePlaintextAuth,
		"auth_mechanisms":        s.AuthMechanisms,
		"auth_failure_delay":     s.AuthFailureDelay,
		"auth_username_format":   s.AuthUsernameFormat,
		"first_valid_uid":        s.FirstValidUID,
		"last_valid_uid":         s.LastValidUID,
		"mail_location":          s.MailLocation,
		"mail_privileged_group":  s.MailPrivilegedGroup,
		"mbox_read_locks":        s.MboxReadLocks,
		"mbox_write_locks":       s.MboxWriteLocks,
		"mbox_lock_timeout":      s.MboxLockTimeout,
		"mbox_dotlock_change":    s.MboxDotlockChangeTimeout,
		"login_greeting":         s.LoginGreeting,
		"userip":                 s.MailMaxUserIPConnections,
		"idle_notify":            s.IMAPIdleNotifyInterval,
		"base_dir":               s.BaseDir,
		"syslog_facility":        s.SyslogFacility,
		"instance_name":          s.InstanceName,
		"pop3_uidl_format":       s.POP3UIDLFormat,
		"passdbs":                s.Passdbs,
		"userdbs":                s.Userdbs,
	}
	want := map[string]any{
		"protocols":              []string{"imap", "pop3"},
		"listen":                 []string{"*", "::"},
		"ssl":                    "yes",
		"ssl_cert":               "</etc/dovecot/private/dovecot.pem",
		"ssl_key":                "</etc/dovecot/private/dovecot.key",
		"disable_plaintext_auth": true,
		"auth_mechanisms":        []string{"plain"},
		"auth_failure_delay":     2 * time.Second,
		"auth_username_format":   "%Lu",
		"first_valid_uid":        uint32(500),
		"last_valid_uid":         uint32(0),
		"mail_location":          "mbox:~/mail:INBOX=/var/mail/%u",
		"mail_privileged_group":  "mail",
		"mbox_read_locks":        []string{"fcntl"},
		"mbox_write_locks":       []string{"fcntl", "dotlock"},
		"mbox_lock_timeout":      5 * time.Minute,
		"mbox_dotlock_change":    2 * time.Minute,
		"login_greeting":         "Dovecot (Debian) ready.",
		"userip":                 uint32(10),
		"idle_notify":            2 * time.Minute,
		"base_dir":               "/run/dovecot",
		"syslog_facility":        "mail",
		"instance_name":          "dovecot",
		"pop3_uidl_format":       "%08Xu%08Xv",
		"passdbs": []AuthDB{{Driver: "pam", Skip: "never", ResultSuccess: "return-ok",
			ResultFailure: "continue", ResultInternal: "continue"}},
		"userdbs": []AuthDB{{Driver: "passwd", Skip: "never", ResultSuccess: "return-ok",
			ResultFailure: "continue", ResultInternal: "continue"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	if len(s.Namespaces) != 1 {
		t.Fatalf("namespaces: %+v", s.Namespaces)
	}
	ns := s.Namespaces[0]
	if ns.Name != "inbox" || !ns.Inbox || ns.Type != "private" || !ns.Subscriptions || ns.List != "yes" {
		t.Errorf("namespace inbox: %+v", ns)
	}
	wantBoxes := []Mailbox{
		{Name: "Drafts", SpecialUse: []string{`\Drafts`}, Auto: "no"},
		{Name: "Junk", SpecialUse: []string{`\Junk`}, Auto: "no"},
		{Name: "Trash", SpecialUse: []string{`\Trash`}, Auto: "no"},
		{Name: "Sent", SpecialUse: []string{`\Sent`}, Auto: "no"},
		{Name: "Sent Messages", SpecialUse: []string{`\Sent`}, Auto: "no"},
	}
	if diff := cmp.Diff(wantBoxes, ns.Mailboxes); diff != "" {
		t.Errorf("mailboxes (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		service, name string
		port          int
		ssl           bool
	}{
		{"imap-login", "imap", 143, false},
		{"imap-login", "imaps", 993, true},
		{"pop3-login", "pop3", 110, false},
		{"pop3-login", "pop3s", 995, true},
	} {
		l, ok := s.Listener(tc.service, tc.name)
		if !ok || l.Port != tc.port || l.SSL != tc.ssl || !cmp.Equal(l.Addresses, []string{"*", "::"}) {
			t.Errorf("listener %s/%s = %+v, %v", tc.service, tc.name, l, ok)
		}
	}
	if !s.HasProtocol("pop3") || s.HasProtocol("lmtp") {
		t.Errorf("HasProtocol wrong for %v", s.Protocols)
	}
}

func TestSettingsFilters(t *testing.T) {
	dir := writeFiles(t, map[string]string{"dovecot.conf": `
protocols = imap pop3
listen = 127.0.0.1
mail_location = mbox:~/mail:INBOX=/var/mail/%u
login_greeting = global
passdb {
  driver = passwd-file
  args = scheme=CRYPT /etc/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=/var/vmail/%d/%n
}
service imap-login {
  inet_listener imap {
    port = 1143
    address = 127.0.0.22
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  login_greeting = imap
  mail_max_userip_connections = 50
}
protocol !imap {
  imap_idle_notify_interval = 1 min
}
local 127.0.0.0/8 {
  verbose_ssl = yes
  protocol imap {
    mail_debug = yes
  }
}
remote 10.0.0.0/8 {
  ssl = required
}
protocol pop3 {
  passdb {
    driver = pam
  }
}
`, "greeting.txt": "from a file\n"})
	cfg, err := Load(filepath.Join(dir, "dovecot.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name string
		m    Match
		key  string
		want string
	}{
		{"global", Match{}, "login_greeting", "global"},
		{"imap", Match{Protocol: "imap"}, "login_greeting", "imap"},
		{"pop3", Match{Protocol: "pop3"}, "login_greeting", "global"},
		{"local", Match{Protocol: "pop3", Local: lo}, "verbose_ssl", "yes"},
		{"local-other", Match{Protocol: "pop3", Local: netip.MustParseAddr("192.0.2.1")}, "verbose_ssl", "no"},
		{"local-imap", Match{Protocol: "imap", Local: lo}, "login_greeting", "imap"},
		{"local-imap-verbose", Match{Protocol: "imap", Local: lo}, "verbose_ssl", "yes"},
		{"local-imap-own", Match{Protocol: "imap", Local: lo}, "mail_debug", "yes"},
		{"local-pop3-own", Match{Protocol: "pop3", Local: lo}, "mail_debug", "no"},
		{"remote", Match{Protocol: "imap", Remote: netip.MustParseAddr("10.1.2.3")}, "ssl", "required"},
		{"remote-other", Match{Protocol: "imap", Remote: netip.MustParseAddr("192.0.2.1")}, "ssl", "yes"},
		{"not-imap", Match{Protocol: "pop3"}, "imap_idle_notify_interval", "1 mins"},
		{"not-imap-imap", Match{Protocol: "imap"}, "imap_idle_notify_interval", "2 mins"},
		{"default", Match{}, "mail_max_userip_connections", "10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cfg.Value(tc.m, tc.key)
			if !ok || got != tc.want {
				t.Errorf("Value(%+v, %s) = %q, %v; want %q", tc.m, tc.key, got, ok, tc.want)
			}
		})
	}
	if _, ok := cfg.Value(Match{}, "no_such_setting"); ok {
		t.Error("Value of an unknown setting reported ok")
	}

	imap := cfg.Settings(Match{Protocol: "imap"})
	if l, ok := imap.Listener("imap-login", "imap"); !ok || l.Port != 1143 || !cmp.Equal(l.Addresses, []string{"127.0.0.22"}) {
		t.Errorf("imap listener %+v", l)
	}
	if l, ok := imap.Listener("imap-login", "imaps"); !ok || l.Port != 0 || !cmp.Equal(l.Addresses, []string{"127.0.0.1"}) {
		t.Errorf("imaps listener %+v", l)
	}
	if imap.MailMaxUserIPConnections != 50 || len(imap.Passdbs) != 1 || imap.Passdbs[0].Driver != "passwd-file" {
		t.Errorf("imap settings: %d %+v", imap.MailMaxUserIPConnections, imap.Passdbs)
	}
	if imap.Userdbs[0].Args != "uid=vmail gid=vmail home=/var/vmail/%d/%n" {
		t.Errorf("userdb: %+v", imap.Userdbs)
	}
	// A passdb in a protocol block comes first, then the global ones.
	if pop3 := cfg.Settings(Match{Protocol: "pop3"}); len(pop3.Passdbs) != 2 || pop3.Passdbs[0].Driver != "pam" || pop3.Passdbs[1].Driver != "passwd-file" {
		t.Errorf("pop3 passdbs: %+v", pop3.Passdbs)
	}

	got, err := cfg.ReadValue("<greeting.txt")
	if err != nil || got != "from a file\n" {
		t.Errorf("ReadValue = %q, %v", got, err)
	}
	if _, err := cfg.ReadValue("<missing.txt"); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("ReadValue of a missing file: %v", err)
	}
	if got, _ := cfg.ReadValue("plain"); got != "plain" {
		t.Errorf("ReadValue(plain) = %q", got)
	}
}

func TestSettingsProtocolsNone(t *testing.T) {
	dir := writeFiles(t, map[string]string{"dovecot.conf": "protocols = none\n"})
	cfg, err := Load(filepath.Join(dir, "dovecot.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Settings(Match{}).Protocols; len(p) != 0 {
		t.Errorf("protocols = none gave %v", p)
	}
}

func TestParseReader(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inc.conf"), []byte("login_greeting = included\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(strings.NewReader("!include inc.conf\n"), filepath.Join(dir, "dovecot.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cfg.Value(Match{}, "login_greeting"); v != "included" {
		t.Errorf("login_greeting = %q", v)
	}
}
