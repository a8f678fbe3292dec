// SPDX-License-Identifier: MIT

package imapd

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailsuite/internal/maillog"
)

func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.hamap.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"mail.hamap.local"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestSTARTTLS: a connection that is not secured sees LOGINDISABLED and
// STARTTLS, and may log in after STARTTLS; the login line says TLS.
func TestSTARTTLS(t *testing.T) {
	logs := &syncBuffer{}
	cfg := testTLSConfig(t)
	e := newEnv(t, "127.0.0.2", func(c *Config) {
		c.DisablePlaintextAuth, c.SSL, c.TLS = true, "yes", cfg
		c.Log = maillog.New(logs, maillog.Options{Ident: "dovecot", NoPID: true, Host: "mail"})
	})
	cl := dial(t, e.addr, "127.0.0.1")
	if want := "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- STARTTLS LOGINDISABLED] Dovecot (Debian) ready."; cl.greeting != want {
		t.Errorf("greeting %q, want %q", cl.greeting, want)
	}
	if _, st := cl.cmd("STARTTLS"); st != "OK Begin TLS negotiation now." {
		t.Fatalf("STARTTLS: %q", st)
	}
	tc := tls.Client(cl.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
	lines, _ := cl.cmd("CAPABILITY")
	if len(lines) != 1 || lines[0] != "* CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN" {
		t.Errorf("CAPABILITY after STARTTLS: %q", lines)
	}
	cl.mustOK("LOGIN b " + passB)
	cl.mustOK("SELECT INBOX")
	cl.cmd("LOGOUT")
	waitLog(t, logs, "Disconnected: Logged out")
	re := regexp.MustCompile(`^\w{3} [ \d]\d \d\d:\d\d:\d\d mail dovecot: imap-login: Login: user=<b>, method=PLAIN, rip=127\.0\.0\.1, lip=127\.0\.0\.2, mpid=\d+, TLS, session=<[A-Za-z0-9+/]{16}>$`)
	if l := logLine(logs.String(), "Login:"); !re.MatchString(l) {
		t.Errorf("login log line %q does not match %v", l, re)
	}
	re = regexp.MustCompile(`dovecot: imap\(b\)<\d+><[A-Za-z0-9+/]{16}>: Disconnected: Logged out in=\d+ out=\d+ deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0$`)
	if l := logLine(logs.String(), "Logged out"); !re.MatchString(l) {
		t.Errorf("logout log line %q does not match %v", l, re)
	}
}

// TestImplicitTLS serves imaps: AUTH=PLAIN at once, no STARTTLS.
func TestImplicitTLS(t *testing.T) {
	cfg := testTLSConfig(t)
	e := newEnv(t, "127.0.0.1", func(c *Config) { c.DisablePlaintextAuth, c.SSL, c.TLS = true, "yes", cfg })
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(ln, true)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	cl.greeting = cl.line()
	if want := "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN] Dovecot (Debian) ready."; cl.greeting != want {
		t.Errorf("greeting %q, want %q", cl.greeting, want)
	}
	cl.mustOK("LOGIN b " + passB)
	lines := cl.mustOK("STATUS INBOX (MESSAGES UIDNEXT)")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "* STATUS INBOX (MESSAGES 1 UIDNEXT 2") {
		t.Errorf("STATUS: %q", lines)
	}
}

// TestFailureLogMatchesFail2ban: the aborted-login line after a failed
// login matches the dovecot filter of Debian's fail2ban (its
// "imap-login: ... (auth failed, N attempts ...)" expression).
func TestFailureLogMatchesFail2ban(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, "127.0.0.1", func(c *Config) {
		c.Clock = &fakeClock{now: time.Unix(1e9, 0)}
		c.Log = maillog.New(logs, maillog.Options{Ident: "dovecot", NoPID: true, Host: "mail"})
	})
	cl := dial(t, e.addr, "127.0.0.1")
	cl.cmd("LOGIN b wrong")
	cl.cmd("LOGOUT")
	waitLog(t, logs, "auth failed")
	f2b := regexp.MustCompile(`(?:pop3|imap|managesieve|submission)-login: (?:Info: )?(?:Aborted login|Disconnected|Remote closed connection|Client has quit the connection)(?::(?: [^ \(]+)+)? \((?:auth failed, \d+ attempts(?: in \d+ secs)?|tried to use (?:disabled|disallowed) \S+ auth|proxy dest auth failed)\):(?: user=<[^>]*>,)?(?: method=\S+,)? rip=(?P<host>[0-9.:a-fA-F]+)(?:[^>]*(?:, session=<\S+>)?)\s*$`)
	l := logLine(logs.String(), "auth failed")
	m := f2b.FindStringSubmatch(l)
	if m == nil || m[1] != "127.0.0.1" {
		t.Errorf("fail2ban's dovecot filter does not find the host in %q", l)
	}
	if !strings.Contains(l, "Disconnected: Aborted login by logging out (auth failed, 1 attempts in ") {
		t.Errorf("aborted login line %q", l)
	}
}

func waitLog(t *testing.T, logs *syncBuffer, sub string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if strings.Contains(logs.String(), sub) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q in log:\n%s", sub, logs.String())
}

func logLine(all, sub string) string {
	for _, l := range strings.Split(all, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
