// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailsuite/pkg/doveconf"
)

// TestServeConfig starts POP3 from a dovecot.conf (a pop3 listener on a
// free loopback port, a passwd-file passdb, an mbox mail_location) and
// logs in with a real client dialogue.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte(fmt.Sprintf("b:{PLAIN}secret1:%d:%d::%s::\n", os.Getuid(), os.Getgid(), dir)), 0o600)
	data := readTestMbox(t, "lifecycle-07-deleted-expunge")
	os.WriteFile(filepath.Join(dir, "b.mbox"), data, 0o600)
	confText := fmt.Sprintf(`protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
first_valid_uid = 0
mail_location = mbox:~/mail:INBOX=%s/%%u.mbox
passdb {
  driver = passwd-file
  args = scheme=PLAIN %s
}
userdb {
  driver = passwd-file
  args = %s
}
service pop3-login {
  inet_listener pop3 {
    port = %d
  }
  inet_listener pop3s {
    port = 0
  }
}
`, dir, users, users, port)
	confPath := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(confPath, []byte(confText), 0o644)
	conf, err := doveconf.Load(confPath, doveconf.Options{Expand: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeConfig(ctx, conf, nil) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeConfig did not return")
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var conn net.Conn
	for i := 0; i < 100; i++ {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if conn == nil {
		t.Fatal(err)
	}
	c, greeting := wrap(t, conn)
	if greeting != "+OK Dovecot (Debian) ready." {
		t.Errorf("greeting %q", greeting)
	}
	c.cmd("USER b")
	if got := c.cmd("PASS secret1"); got != replyLoggedIn {
		t.Fatalf("PASS: %q", got)
	}
	if got := c.cmd("STAT"); got != "+OK 4 700" {
		t.Errorf("STAT: %q", got)
	}
	if got := c.multi("UIDL"); !strings.Contains(got, "1 000000026b08d77b\r\n") {
		t.Errorf("UIDL: %q", got)
	}
	c.cmd("QUIT")
}

// TestFromSettings maps a dovecot.conf onto Config, and refuses the
// pop3_* values Dovecot's pop3 refuses.
func TestFromSettings(t *testing.T) {
	load := func(text string) (*doveconf.Config, string) {
		p := filepath.Join(t.TempDir(), "dovecot.conf")
		os.WriteFile(p, []byte(text), 0o644)
		conf, err := doveconf.Load(p, doveconf.Options{Expand: true})
		if err != nil {
			t.Fatal(err)
		}
		return conf, p
	}
	conf, _ := load(`protocols = pop3
disable_plaintext_auth = no
auth_failure_delay = 0
login_greeting = hi.
login_trusted_networks = 10.0.0.0/8 192.0.2.1
protocol pop3 {
  pop3_uidl_format = %v-%u
  pop3_no_flag_updates = yes
  pop3_lock_session = yes
  pop3_deleted_flag = POP3Deleted
}
`)
	c, err := FromSettings(conf, netip.Addr{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.AllowPlaintext, c.AuthFailureDelay, c.Greeting, len(c.TrustedNetworks), c.UIDLFormat,
		c.NoFlagUpdates, c.LockSession, c.DeletedFlag, c.deleteKeyword()}
	want := []any{true, time.Duration(-1), "hi.", 2, "%v-%u", true, true, "POP3Deleted", "POP3Deleted"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{
		"pop3_delete_type = flag\n",
		"pop3_uidl_format = %m\n",
	} {
		conf, _ := load(bad)
		if _, err := FromSettings(conf, netip.Addr{}, netip.Addr{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
