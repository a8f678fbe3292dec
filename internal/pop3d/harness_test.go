// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/internal/maillog"
)

// testAuth knows user b with password "pw" (and any user in extra).
type testAuth struct {
	home string
	uid  int
}

func (a testAuth) Authenticate(_ context.Context, user, password string) (User, error) {
	if user == "b" && password == "pw" {
		return User{Name: "b", UID: a.uid, GID: a.uid, Home: a.home}, nil
	}
	return User{}, errors.New("password mismatch")
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

type testServer struct {
	addr  string
	inbox string
	dir   string
	log   *syncBuffer
}

// startServer serves POP3 on 127.0.0.1 for user b, whose INBOX is
// <dir>/inbox, filled with mbox (when not nil).
func startServer(t testing.TB, mboxData []byte, mod func(*Config)) *testServer {
	t.Helper()
	return startServerOn(t, "127.0.0.1:0", mboxData, mod)
}

// startServerOn is startServer listening on addr.
func startServerOn(t testing.TB, addr string, mboxData []byte, mod func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{dir: dir, inbox: filepath.Join(dir, "inbox"), log: &syncBuffer{}}
	if mboxData != nil {
		if err := os.WriteFile(ts.inbox, mboxData, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		Auth:             testAuth{home: dir, uid: 1000},
		AllowPlaintext:   true,
		SSL:              "no",
		AuthFailureDelay: -1,
		MailLocation:     "mbox:" + filepath.Join(dir, "mail") + ":INBOX=" + ts.inbox,
		Hostname:         "vm",
		Log:              maillog.New(ts.log, maillog.Options{Ident: "dovecot", NoPID: true, Host: "mail"}),
	}
	if mod != nil {
		mod(&cfg)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return")
		}
	})
	return ts
}

// client is a line-level POP3 client for tests.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dial(t testing.TB, addr string) (*client, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return wrap(t, conn)
}

// dialFrom connects from the local address from (a different loopback
// address makes the connection "not secured" for Dovecot).
func dialFrom(t testing.TB, from, addr string) (*client, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return wrap(t, conn)
}

func wrap(t testing.TB, conn net.Conn) (*client, string) {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, br: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	return c, c.line()
}

// startTLS switches the client to TLS (after STLS or for port 995).
func (c *client) startTLS() {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.br = tc, bufio.NewReader(tc)
}

// testCert is a self-signed certificate for localhost.
func testCert(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		if l == "" {
			return "<EOF>"
		}
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and returns the status line.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// multi sends a command and returns its whole reply, a multi-line one
// (when the status is +OK) up to and including the "." line, raw.
func (c *client) multi(line string) string {
	c.t.Helper()
	c.send(line)
	return c.readMulti()
}

func (c *client) readMulti() string {
	c.t.Helper()
	var b strings.Builder
	first := c.line()
	b.WriteString(first + "\r\n")
	if !strings.HasPrefix(first, "+OK") {
		return b.String()
	}
	for {
		l := c.line()
		if l == "<EOF>" {
			c.t.Fatalf("EOF in multi-line reply: %q", b.String())
		}
		b.WriteString(l + "\r\n")
		if l == "." {
			return b.String()
		}
	}
}

func (c *client) login() {
	c.t.Helper()
	if got := c.cmd("USER b"); got != "+OK" {
		c.t.Fatalf("USER: %q", got)
	}
	if got := c.cmd("PASS pw"); got != "+OK Logged in." {
		c.t.Fatalf("PASS: %q", got)
	}
}

func tlsDial(addr string) (net.Conn, error) {
	return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
