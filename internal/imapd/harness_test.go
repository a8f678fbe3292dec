// SPDX-License-Identifier: MIT

package imapd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/pkg/shadowauth"
)

// The seed's users: b's password is in an alternate shadow file, hashed
// with SHA-512 crypt ("$6$", what Debian's passwd wrote before yescrypt).
const (
	passB   = "b-secret"
	hashB   = "$6$abcdefgh$MxsobjqfFEN9icBdnbfNf7x6xHktiBf8NnfnH06XyQJi3/5wTchWYqmPV/n7dnrwZ7F9q1CUmR26/SARgAjUG0"
	msgAtoB = "From a@hamap.local  Fri Nov 27 01:01:09 2026\n" +
		"Return-Path: <a@hamap.local>\n" +
		"Date: Fri, 27 Nov 2026 01:01:09 +0000\n" +
		"From: a <a@hamap.local>\n" +
		"To: b@hamap.local\n" +
		"Subject: seed 1\n" +
		"Message-Id: <seed-1@hamap.local>\n" +
		"\n" +
		"Hello b, this is a.\n" +
		"\n"
)

type env struct {
	dir    string
	spool  string // b's INBOX
	home   string
	srv    *Server
	addr   string
	logBuf *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv writes passwd/shadow for b and a spool with a's message, and
// starts a server on listenIP.
func newEnv(t testing.TB, listenIP string, mod func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, home: filepath.Join(dir, "home", "b"), spool: filepath.Join(dir, "spool", "b")}
	for _, d := range []string{filepath.Join(e.home, "mail"), filepath.Dir(e.spool)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	passwd := filepath.Join(dir, "passwd")
	shadow := filepath.Join(dir, "shadow")
	write(t, passwd, fmt.Sprintf("b:x:%d:%d:b:%s:/bin/sh\n", os.Getuid(), os.Getgid(), e.home))
	write(t, shadow, "b:"+hashB+":20000:0:99999:7:::\n")
	write(t, e.spool, msgAtoB)
	cfg := Config{
		Auth:         SystemAuth{System: &shadowauth.System{Paths: shadowauth.Paths{Passwd: passwd, Shadow: shadow}}},
		MailLocation: "mbox:~/mail:INBOX=" + filepath.Join(dir, "spool", "%u"),
		IdleCheck:    500 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.srv = New(cfg)
	ln, err := net.Listen("tcp", net.JoinHostPort(listenIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); e.srv.Serve(ln, false) }()
	t.Cleanup(func() { e.srv.Close(); <-done })
	return e
}

func write(t testing.TB, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client is a raw IMAP client that keeps every line, like the reference
// tools/dvlib.py driver.
type client struct {
	t        testing.TB
	c        net.Conn
	w        io.Writer // where commands go; nil means c
	r        *bufio.Reader
	n        int
	greeting string
}

func dial(t testing.TB, addr, from string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.greeting = cl.line()
	return cl
}

func (cl *client) line() string {
	l, ok := cl.lineEOF()
	if !ok {
		cl.t.Fatalf("read: connection closed (after %q)", l)
	}
	return l
}

func (cl *client) lineEOF() (string, bool) {
	if cl.c != nil {
		cl.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	}
	l, err := cl.r.ReadString('\n')
	return strings.TrimSuffix(l, "\r\n"), err == nil
}

var literalRE = regexp.MustCompile(`\{(\d+)\}$`)

// cmd sends one command and returns the untagged lines (literals inline)
// and the tagged reply without its tag.
func (cl *client) cmd(c string) ([]string, string) {
	cl.n++
	tag := "a" + strconv.Itoa(cl.n)
	w := cl.w
	if w == nil {
		w = cl.c
	}
	if _, err := fmt.Fprintf(w, "%s %s\r\n", tag, c); err != nil {
		cl.t.Fatal(err)
	}
	return cl.until(tag)
}

func (cl *client) until(tag string) ([]string, string) {
	lines, st, ok := cl.untilEOF(tag)
	if !ok {
		cl.t.Fatalf("connection closed before %s's reply (%q)", tag, lines)
	}
	return lines, st
}

// untilEOF is until that reports a closed connection instead of failing.
func (cl *client) untilEOF(tag string) ([]string, string, bool) {
	var lines []string
	for {
		l, ok := cl.lineEOF()
		if !ok {
			return lines, "", false
		}
		for {
			m := literalRE.FindStringSubmatch(l)
			if m == nil {
				break
			}
			n, _ := strconv.Atoi(m[1])
			buf := make([]byte, n)
			if _, err := ioReadFull(cl.r, buf); err != nil {
				cl.t.Fatal(err)
			}
			more, _ := cl.lineEOF()
			l += "\n" + string(buf) + more
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return lines, rest, true
		}
		lines = append(lines, l)
	}
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (cl *client) mustOK(c string) []string {
	cl.t.Helper()
	lines, st := cl.cmd(c)
	if !strings.HasPrefix(st, "OK") {
		cl.t.Fatalf("%s: %s (%q)", c, st, lines)
	}
	return lines
}

// fakeClock records the auth delays instead of sleeping.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(_ context.Context, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
}

func (f *fakeClock) take() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sleeps
	f.sleeps = nil
	return s
}
