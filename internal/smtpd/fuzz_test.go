// SPDX-License-Identifier: MIT

package smtpd

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzAddress feeds arbitrary RCPT arguments through the address parser
// and the relay decision for an untrusted client: nothing may panic, and
// an address the policy accepts from that client must be delivered here.
func FuzzAddress(f *testing.F) {
	for _, p := range relayProbes {
		f.Add("<" + p.rcpt + ">")
	}
	for _, s := range []string{"<>", "<@>", "a@", "<a@hamap.local", `<"a\"b"@x>`, "<a(b)c@d>", "<@a,@b:c@d>",
		"<a@[1.2.3.4]>", "<a@[IPv6:::1]x>", "<a b@c d>", "<a\\@b@hamap.local>", "a%b%c!d!e@hamap.local", "<<<a>>>"} {
		f.Add(s)
	}
	cfg, text := loadTestCF(f, testRoot(f, ""), nil)
	pol := NewPolicy(cfg, DetectFeatures(text), "mail.hamap.local", []string{"hamap.local", "mail.hamap.local", "[127.0.0.13]"})
	pol.Recipients = anyUser{}
	c := &Client{AddrMacro: untrustedIP, Name: "[" + untrustedIP + "]", Resolve: ResolveFail}
	f.Fuzz(func(t *testing.T, s string) {
		echo, inner, _, aerr := splitPathArg(s)
		if aerr != nil {
			return
		}
		if !strings.HasPrefix(strings.TrimLeft(s, " \t"), echo) {
			t.Fatalf("echo %q is not the start of %q", echo, s)
		}
		a, aerr := parseAddress(echo, inner)
		if aerr != nil {
			if !strings.HasPrefix(aerr.r.line(aerr.arg...), "5") {
				t.Fatalf("syntax refusal is not permanent: %q", aerr.r.line(aerr.arg...))
			}
			return
		}
		if strings.HasSuffix(a.Domain, ".") && a.Domain != "." {
			t.Fatalf("domain %q keeps its trailing dot", a.Domain)
		}
		v := pol.CheckRcpt(context.Background(), c, a, nil)
		if v.refusal == nil && v.line == "" && !v.Local {
			t.Fatalf("untrusted client may relay to %q via %q", v.User+"@"+v.Domain, s)
		}
	})
}

type anyUser struct{}

func (anyUser) Exists(context.Context, string) (bool, error) { return true, nil }

// FuzzSMTP sends an arbitrary command stream to a live server: the server
// must greet, answer in well-formed reply lines, never hit go-smtp's
// panic handler, and end the connection once the client stops sending.
func FuzzSMTP(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@hamap.local>\r\nRCPT TO:<b@hamap.local>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"HELO\r\nEHLO\r\nMAIL TO:<x>\r\nRCPT TO:<x>\r\nDATA\r\nFOO\r\n",
		"MAIL FROM:<a@hamap.local>\r\nRCPT TO:<b@hamap.local>\r\nDATA\r\nbare\nlf\r\n.\r\n",
		"EHLO x\r\nAUTH LOGIN\r\n*\r\nAUTH PLAIN\r\n=\r\nSTARTTLS\r\nVRFY b\r\nEXPN b\r\nHELP\r\nETRN x\r\n",
		"mail from:<a@hamap.local> SIZE=1 BODY=8BITMIME RET=FULL ENVID=x\r\nrcpt to:<b> NOTIFY=NEVER\r\nrset\r\nnoop\r\n",
		"\r\n\r\n\x00\xff\r\nMAIL\r\nRCPT\r\n",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, envOpts{auth: AuthFunc(func(u, p string) error { return io.EOF })})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 8192 {
			in = in[:8192]
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(trustedIP)}}
		conn, err := d.Dial("tcp4", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			conn.Write(in)
			conn.(*net.TCPConn).CloseWrite()
		}()
		br := bufio.NewReader(conn)
		first := true
		for {
			line, err := br.ReadString('\n')
			if err == io.EOF && line == "" {
				break
			}
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("server did not end the connection after the client's EOF")
				}
				break
			}
			if first && !strings.HasPrefix(line, "220 ") {
				t.Fatalf("no greeting: %q", line)
			}
			first = false
			if len(line) < 6 || line[3] != ' ' && line[3] != '-' || strings.Trim(line[:3], "0123456789") != "" ||
				!strings.HasSuffix(line, "\r\n") {
				t.Fatalf("malformed reply line %q", line)
			}
			if strings.Contains(line, "Internal server error") {
				t.Fatalf("panic in a session method: %q", line)
			}
		}
		if first {
			t.Fatal("connection not answered")
		}
	})
}
