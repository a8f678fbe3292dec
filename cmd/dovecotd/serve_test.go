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
	"strings"
	"testing"
	"time"
)

// TestServe starts the serve mode on a free loopback port with a
// passwd-file passdb/userdb and log_path, logs in, selects INBOX, and
// stops it through the context as SIGTERM would.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	home := filepath.Join(dir, "home", "b")
	os.MkdirAll(filepath.Join(home, "mail"), 0o755)
	os.MkdirAll(filepath.Join(dir, "spool"), 0o755)
	os.WriteFile(filepath.Join(dir, "spool", "b"), []byte("From a@x  Fri Nov 27 01:01:09 2026\nSubject: hi\n\nhello\n\n"), 0o600)
	// {SHA512-CRYPT} of "b-secret", as doveadm pw -s SHA512-CRYPT writes it.
	// uid 1000: Dovecot's first_valid_uid (500) refuses lower ones. As
	// root the session runs in a mail worker as uid 1000, so b's files
	// are given to it; otherwise they stay the invoking user's.
	users := fmt.Sprintf("b:{SHA512-CRYPT}$6$abcdefgh$MxsobjqfFEN9icBdnbfNf7x6xHktiBf8NnfnH06XyQJi3/5wTchWYqmPV/n7dnrwZ7F9q1CUmR26/SARgAjUG0:1000:1000::%s::\n", home)
	giveTo(t, filepath.Join(dir, "home"), 1000, 1000)
	giveTo(t, filepath.Join(dir, "spool"), 1000, 1000)
	os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o600)
	logPath := filepath.Join(dir, "dovecot.log")
	conf := writeConf(t, fmt.Sprintf(`protocols = imap
listen = 127.0.0.1
ssl = no
login_greeting = mailsuite ready.
mail_location = mbox:~/mail:INBOX=%s/spool/%%u
log_path = %s
passdb {
  driver = passwd-file
  args = %s/users
}
userdb {
  driver = passwd-file
  args = %s/users
}
service imap-login {
  inet_listener imap {
    port = %d
  }
  inet_listener imaps {
    port = 0
  }
}
`, dir, logPath, dir, dir, port))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	readyc := make(chan []net.Addr, 1)
	go func() { done <- serveCtx(ctx, conf, &stderr, func(a []net.Addr) { readyc <- a }) }()
	var addrs []net.Addr
	select {
	case addrs = <-readyc:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	if len(addrs) != 1 || addrs[0].String() != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("listening on %v", addrs)
	}
	c, err := net.DialTimeout("tcp", addrs[0].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	greeting, _ := r.ReadString('\n')
	if !strings.HasSuffix(greeting, "] mailsuite ready.\r\n") {
		t.Errorf("greeting %q", greeting)
	}
	fmt.Fprintf(c, "a LOGIN b b-secret\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
	var got []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimSpace(l))
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"a OK [CAPABILITY", "* 1 EXISTS", "b OK [READ-WRITE]", "* BYE Logging out"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in\n%s", want, all)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	log, _ := os.ReadFile(logPath)
	for _, want := range []string{"dovecot: master: Dovecot v2.3.19.1 (9b53102964) starting up for imap", "dovecot: imap-login: Login: user=<b>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=", "Disconnected: Logged out in="} {
		if !bytes.Contains(log, []byte(want)) {
			t.Errorf("log has no %q:\n%s", want, log)
		}
	}
}
