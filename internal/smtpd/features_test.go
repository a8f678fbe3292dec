// SPDX-License-Identifier: MIT

package smtpd

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func checkAuth(user, pass string) error {
	if user == "b" && pass == "secret" {
		return nil
	}
	return errors.New("bad password")
}

func withTrustAuth(s string) string {
	return strings.Replace(s, "\nCwlocalhost\n", "\nCwlocalhost\nC{TrustAuthMech}LOGIN PLAIN\n", 1)
}

func TestAuthRelay(t *testing.T) {
	plain := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte("\x00" + u + "\x00" + p)) }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name  string
		trust bool
		steps []step
	}{
		{"plain trusted mech", true, []step{
			{"AUTH PLAIN " + plain("b", "wrong"), "535 5.7.0 authentication failed"},
			{"AUTH PLAIN " + plain("b", "secret"), "235 2.0.0 OK Authenticated"},
			{"AUTH PLAIN " + plain("b", "secret"), "503 5.5.0 Already Authenticated"},
			{"MAIL FROM:<b@hamap.local>", "250 2.1.0 <b@hamap.local>... Sender ok"},
			{"RCPT TO:<friend@outside.example>", "250 2.1.5 <friend@outside.example>... Recipient ok"},
		}},
		{"login trusted mech", true, []step{
			{"AUTH LOGIN", "334 " + b64("Username:")},
			{b64("b"), "334 " + b64("Password:")},
			{b64("secret"), "235 2.0.0 OK Authenticated"},
			{"MAIL FROM:<b@hamap.local>", "250 2.1.0 <b@hamap.local>... Sender ok"},
			{"RCPT TO:<friend@outside.example>", "250 2.1.5 <friend@outside.example>... Recipient ok"},
		}},
		{"login initial response", true, []step{
			{"AUTH LOGIN " + b64("b"), "334 " + b64("Password:")},
			{b64("nope"), "535 5.7.0 authentication failed"},
		}},
		// Without TRUST_AUTH_MECH sendmail's Rcpt_ok grants nothing for AUTH.
		{"no TrustAuthMech", false, []step{
			{"AUTH PLAIN " + plain("b", "secret"), "235 2.0.0 OK Authenticated"},
			{"MAIL FROM:<b@hamap.local>", "250 2.1.0 <b@hamap.local>... Sender ok"},
			{"RCPT TO:<friend@outside.example>", "550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := envOpts{auth: AuthFunc(checkAuth)}
			if tc.trust {
				o.cfText = withTrustAuth
			}
			e := newEnv(t, o)
			c := e.dial(t, untrustedIP)
			c.reply()
			if ehlo := c.cmd("EHLO x"); !strings.Contains(ehlo, "\n250-AUTH LOGIN PLAIN\n") {
				t.Fatalf("EHLO lacks AUTH: %q", ehlo)
			}
			runSteps(t, c, tc.steps)
		})
	}
}

func TestAuthOptionsP(t *testing.T) {
	e := newEnv(t, envOpts{auth: AuthFunc(checkAuth), cfText: func(s string) string {
		return strings.Replace(s, "O AuthOptions=A", "O AuthOptions=A p", 1)
	}})
	c := e.dial(t, trustedIP)
	c.reply()
	if ehlo := c.cmd("EHLO x"); strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered without TLS under AuthOptions=p: %q", ehlo)
	}
	runSteps(t, c, []step{{"AUTH PLAIN AGIAc2VjcmV0", "503 5.3.3 AUTH not available"}})
}

func TestRequireAuthModifier(t *testing.T) {
	e := newEnv(t, envOpts{auth: AuthFunc(checkAuth), modifiers: "aE"})
	c := e.dial(t, trustedIP)
	c.reply()
	if ehlo := c.cmd("EHLO x"); strings.Contains(ehlo, "ETRN") {
		t.Errorf("ETRN offered with modifier E: %q", ehlo)
	}
	runSteps(t, c, []step{
		{"MAIL FROM:<a@hamap.local>", "530 5.7.0 Authentication required"},
		{"ETRN hamap.local", "502 5.7.0 Sorry, we do not allow this operation"},
		{"AUTH PLAIN AGIAc2VjcmV0", "235 2.0.0 OK Authenticated"},
		{"MAIL FROM:<a@hamap.local>", "250 2.1.0 <a@hamap.local>... Sender ok"},
	})
}

func selfSigned(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.hamap.local"},
		DNSNames: []string{"mail.hamap.local"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestSTARTTLS(t *testing.T) {
	e := newEnv(t, envOpts{tls: selfSigned(t), auth: AuthFunc(checkAuth), cfText: func(s string) string {
		return strings.Replace(s, "O AuthOptions=A", "O AuthOptions=A p", 1)
	}})
	c := e.dial(t, trustedIP)
	c.reply()
	ehlo := c.cmd("EHLO x")
	if !strings.Contains(ehlo, "\n250-STARTTLS\n") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("EHLO before TLS: %q", ehlo)
	}
	runSteps(t, c, []step{{"STARTTLS x", "501 5.5.2 Syntax error (no parameters allowed)"}, {"STARTTLS", "220 2.0.0 Ready to start TLS"}})
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.hamap.local"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn = tc
	c.r = textproto.NewReader(bufio.NewReader(tc))
	c.w = bufio.NewWriter(tc)
	ehlo = c.cmd("EHLO x")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "250-AUTH LOGIN PLAIN") {
		t.Errorf("EHLO after TLS: %q", ehlo)
	}
	runSteps(t, c, []step{
		{"STARTTLS", "503 5.5.0 TLS already active"},
		{"MAIL FROM:<a@hamap.local>", "250 2.1.0 <a@hamap.local>... Sender ok"},
		{"RCPT TO:<b@hamap.local>", "250 2.1.5 <b@hamap.local>... Recipient ok"},
		{"DATA", "354 End data with <CR><LF>.<CR><LF>"},
	})
	if r := c.cmd("Subject: tls\r\n\r\nx\r\n."); !strings.HasPrefix(r, "250 2.0.0 ") {
		t.Fatalf("end of data: %q", r)
	}
	msgs := e.spool.Messages()
	if len(msgs) != 1 || msgs[0].Env.Proto != "ESMTPS" {
		t.Errorf("spooled %d messages, proto %q", len(msgs), msgs[0].Env.Proto)
	}
}

// TestSTARTTLSInjection: commands pipelined with STARTTLS in the clear
// must not be executed after the handshake (CVE-2011-0411).
func TestSTARTTLSInjection(t *testing.T) {
	e := newEnv(t, envOpts{tls: selfSigned(t)})
	c := e.dial(t, trustedIP)
	c.reply()
	c.cmd("EHLO x")
	c.send("STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
	if r := c.reply(); r != "220 2.0.0 Ready to start TLS" {
		t.Fatalf("STARTTLS: %q", r)
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		// The injected bytes broke the handshake: nothing was run.
		return
	}
	c.r = textproto.NewReader(bufio.NewReader(tc))
	c.w = bufio.NewWriter(tc)
	if r := c.cmd("MAIL FROM:<a@hamap.local>"); r != "250 2.1.0 <a@hamap.local>... Sender ok" {
		t.Errorf("after TLS, MAIL got %q (an injected MAIL was executed?)", r)
	}
}

func TestSMTPS(t *testing.T) {
	e := newEnv(t, envOpts{tls: selfSigned(t), modifiers: "s"})
	conn, err := tls.DialWithDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(trustedIP)}}, "tcp4", e.addr,
		&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn)), w: bufio.NewWriter(conn)}
	if r := c.reply(); !strings.HasPrefix(r, "220 mail.hamap.local ESMTP Sendmail") {
		t.Fatalf("banner over TLS: %q", r)
	}
	if ehlo := c.cmd("EHLO x"); strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered on SMTPS: %q", ehlo)
	}
}
