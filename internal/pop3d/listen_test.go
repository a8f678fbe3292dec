// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"fmt"
	"net"
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
