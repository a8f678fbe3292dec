// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServePOP3 starts the serve mode with protocols = imap pop3 and
// downloads and deletes b's message over POP3 on the pop3 listener.
func TestServePOP3(t *testing.T) {
	dir := t.TempDir()
	imapPort, pop3Port := freePort(t), freePort(t)
	home := filepath.Join(dir, "home", "b")
	os.MkdirAll(filepath.Join(home, "mail"), 0o755)
	os.MkdirAll(filepath.Join(dir, "spool"), 0o755)
	spool := filepath.Join(dir, "spool", "b")
	os.WriteFile(spool, []byte("From a@x  Fri Nov 27 01:01:09 2026\nSubject: hi\n\n.hello\n\n"), 0o600)
	// {SHA512-CRYPT} of "b-secret".
	uid, gid := mailUser()
	users := fmt.Sprintf("b:{SHA512-CRYPT}$6$abcdefgh$MxsobjqfFEN9icBdnbfNf7x6xHktiBf8NnfnH06XyQJi3/5wTchWYqmPV/n7dnrwZ7F9q1CUmR26/SARgAjUG0:%d:%d::%s::\n", uid, gid, home)
	giveTo(t, filepath.Join(dir, "home"), uid, gid)
	giveTo(t, filepath.Join(dir, "spool"), uid, gid)
	os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o600)
	logPath := filepath.Join(dir, "dovecot.log")
	conf := writeConf(t, fmt.Sprintf(`protocols = imap pop3
listen = 127.0.0.1
ssl = no
first_valid_uid = 0
mail_location = mbox:~/mail:INBOX=%[1]s/spool/%%u
log_path = %[2]s
passdb {
  driver = passwd-file
  args = %[1]s/users
}
userdb {
  driver = passwd-file
  args = %[1]s/users
}
service imap-login {
  inet_listener imap {
    port = %[3]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %[4]d
  }
  inet_listener pop3s {
    port = 0
  }
}
`, dir, logPath, imapPort, pop3Port))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- serveCtx(ctx, conf, &stderr, nil) }()
	var c net.Conn
	var err error
	for i := 0; i < 200; i++ {
		if c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pop3Port)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c == nil {
		t.Fatalf("no pop3 listener: %v\n%s", err, stderr.String())
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var got []string
	read := func() {
		l, _ := r.ReadString('\n')
		got = append(got, l)
	}
	read()
	for _, cmd := range []string{"USER b", "PASS b-secret", "STAT", "RETR 1", "DELE 1", "QUIT"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		read()
		if cmd == "RETR 1" {
			for got[len(got)-1] != ".\r\n" {
				read()
			}
		}
	}
	want := []string{"+OK Dovecot (Debian) ready.\r\n", "+OK\r\n", "+OK Logged in.\r\n", "+OK 1 23\r\n",
		"+OK 23 octets\r\n", "Subject: hi\r\n", "\r\n", "..hello\r\n", ".\r\n",
		"+OK Marked to be deleted.\r\n", "+OK Logging out, messages deleted.\r\n"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("dialogue:\n got %q\nwant %q", got, want)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	log, _ := os.ReadFile(logPath)
	if !regexp.MustCompile(`pop3\(b\)<\d+><[^>]+>: Disconnected: Logged out top=0/0, retr=1/\d+, del=1/1, size=23`).Match(log) {
		t.Errorf("no pop3 logout line in %s:\n%s", logPath, log)
	}
	if b, _ := os.ReadFile(spool); bytes.Contains(b, []byte("Subject: hi")) {
		t.Errorf("message not deleted:\n%s", b)
	}
}
