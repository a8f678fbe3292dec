// SPDX-License-Identifier: MIT

package imapd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/internal/maillog"
)

// TestLibConnField pins the go-imap internals setLibConn relies on.
func TestLibConnField(t *testing.T) {
	typ := reflect.TypeFor[imapserver.Conn]()
	if f, ok := typ.FieldByName("conn"); !ok || f.Type != reflect.TypeFor[net.Conn]() {
		t.Errorf("imapserver.Conn.conn: %v %v", ok, f.Type)
	}
	if f, ok := typ.FieldByName("mutex"); !ok || f.Type != reflect.TypeFor[sync.Mutex]() {
		t.Errorf("imapserver.Conn.mutex: %v %v", ok, f.Type)
	}
}

// uidAuth gives the authenticated user another uid, as a userdb would
// (so that a test run as root is not refused as root).
type uidAuth struct {
	Authenticator
	uid int
}

func (a uidAuth) Authenticate(ctx context.Context, user, pass string) (User, error) {
	u, err := a.Authenticator.Authenticate(ctx, user, pass)
	u.UID, u.GID = a.uid, a.uid
	return u, err
}

// handoffEnv is a login server whose Handoff gives sessions to a second
// Server in the same process (the mail process's role, without the
// process), with both logging to logs.
type handoffEnv struct {
	*env
	worker *Server
	logs   *syncBuffer
	got    chan *Handoff
	ended  chan struct{}
}

func newHandoffEnv(t *testing.T, mod func(*Config)) *handoffEnv {
	t.Helper()
	h := &handoffEnv{logs: &syncBuffer{}, got: make(chan *Handoff, 8), ended: make(chan struct{}, 8)}
	lg := maillog.New(h.logs, maillog.Options{Ident: "dovecot", NoPID: true, Host: "mail"})
	h.env = newEnv(t, "127.0.0.1", func(c *Config) {
		c.Auth = uidAuth{c.Auth, 1000}
		c.Log = lg
		wc := *c
		wc.Handoff = nil
		h.worker = New(wc)
		c.Handoff = func(ho *Handoff, logged func(int)) error {
			logged(4242)
			h.got <- ho
			return h.worker.ServeHandoff(ho.Conn, ho, func() { h.ended <- struct{}{} })
		}
		if mod != nil {
			mod(c)
		}
	})
	t.Cleanup(func() { h.worker.Close() })
	return h
}

// TestHandoffPipelined: commands pipelined with LOGIN reach the mail
// process, which sends the login's OK with Dovecot's text and the
// post-login capabilities, and logs the session.
func TestHandoffPipelined(t *testing.T) {
	h := newHandoffEnv(t, nil)
	cl := dial(t, h.addr, "127.0.0.1")
	io.WriteString(cl.c, "a1 LOGIN b "+passB+"\r\na2 SELECT INBOX\r\na3 LOGOUT\r\n")
	lines, st := cl.until("a3")
	all := strings.Join(append(lines, "a3 "+st), "\n")
	if !regexp.MustCompile(`(?m)^a1 OK \[CAPABILITY IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE IDLE [^\]]*\] Logged in$`).MatchString(all) {
		t.Errorf("no login OK in\n%s", all)
	}
	for _, want := range []string{"* 1 EXISTS", "a2 OK [READ-WRITE]", "* BYE Logging out", "a3 OK"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in\n%s", want, all)
		}
	}
	ho := <-h.got
	if ho.Tag != "a1" || ho.User.Name != "b" || ho.Session == "" || ho.TLS {
		t.Errorf("handoff %+v", ho)
	}
	if !bytes.Contains(ho.Pending, []byte("a2 SELECT INBOX\r\n")) {
		t.Errorf("pending %q", ho.Pending)
	}
	<-h.ended
	logs := h.logs.String()
	if !strings.Contains(logs, "imap-login: Login: user=<b>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=4242, secured, session=<"+ho.Session+">") {
		t.Errorf("login line:\n%s", logs)
	}
	m := regexp.MustCompile(`imap\(b\)<\d+><` + regexp.QuoteMeta(ho.Session) + `>: Disconnected: Logged out in=(\d+) out=(\d+) `).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no logout line:\n%s", logs)
	}
	// in= counts what the mail process read: the pipelined commands.
	if m[1] != "28" {
		t.Errorf("in=%s, want 28 (a2 SELECT INBOX, a3 LOGOUT)", m[1])
	}
	if strings.Count(logs, "Disconnected") != 1 {
		t.Errorf("the login process logged the session too:\n%s", logs)
	}
}

// TestHandoffAuthenticateSTARTTLS: AUTHENTICATE after STARTTLS; the tag
// and the TLS flag travel, and the OK says "Logged in".
func TestHandoffAuthenticateSTARTTLS(t *testing.T) {
	cfg := testTLSConfig(t)
	h := newHandoffEnv(t, func(c *Config) { c.SSL, c.TLS = "yes", cfg })
	cl := dial(t, h.addr, "127.0.0.2")
	if _, st := cl.cmd("STARTTLS"); st != "OK Begin TLS negotiation now." {
		t.Fatalf("STARTTLS: %q", st)
	}
	tc := tls.Client(cl.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cl.c, cl.r = tc, bufio.NewReader(tc)
	caps, _ := cl.cmd("CAPABILITY")
	if len(caps) != 1 || strings.Contains(caps[0], "STARTTLS") || strings.Contains(caps[0], "LOGINDISABLED") {
		t.Errorf("capabilities after STARTTLS: %q", caps)
	}
	ir := base64.StdEncoding.EncodeToString([]byte("\x00b\x00" + passB))
	io.WriteString(tc, "x9 AUTHENTICATE PLAIN "+ir+"\r\nx10 NOOP\r\n")
	lines, st := cl.until("x10")
	all := strings.Join(append(lines, "x10 "+st), "\n")
	if !regexp.MustCompile(`(?m)^x9 OK \[CAPABILITY [^\]]*\] Logged in$`).MatchString(all) || !strings.Contains(all, "x10 OK") {
		t.Errorf("AUTHENTICATE:\n%s", all)
	}
	ho := <-h.got
	if ho.Tag != "x9" || !ho.TLS {
		t.Errorf("handoff tag %q tls %v", ho.Tag, ho.TLS)
	}
	if _, ok := ho.Conn.(*tls.Conn); !ok {
		t.Errorf("handed-over connection is %T, want the TLS connection", ho.Conn)
	}
	if !strings.Contains(h.logs.String(), "mpid=4242, TLS, session=") {
		t.Errorf("login line:\n%s", h.logs)
	}
}

// TestHandoffFails: a failed hand-over answers the login with Dovecot's
// internal error and leaves the connection usable.
func TestHandoffFails(t *testing.T) {
	h := newHandoffEnv(t, func(c *Config) {
		c.Handoff = func(*Handoff, func(int)) error { return errors.New("no worker") }
	})
	cl := dial(t, h.addr, "127.0.0.1")
	if _, st := cl.cmd("LOGIN b " + passB); !strings.HasPrefix(st, "NO [SERVERBUG] Internal error occurred.") {
		t.Errorf("LOGIN: %q", st)
	}
	if _, st := cl.cmd("NOOP"); st != "OK NOOP completed" {
		t.Errorf("NOOP after a failed hand-over: %q", st)
	}
}

// chunkConn serves its input in the given chunk sizes.
type chunkConn struct {
	net.Conn
	in     []byte
	chunks []int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := len(c.in)
	if len(c.chunks) > 0 {
		n = max(1, min(n, c.chunks[0]))
		c.chunks = c.chunks[1:]
	}
	n = copy(p, c.in[:n])
	c.in = c.in[n:]
	return n, nil
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

// FuzzPreLoginRead: before login, Read never gives the library a byte
// past a line end, and what it gave plus what it holds is what the
// client sent, in order, whatever the packet and read sizes.
func FuzzPreLoginRead(f *testing.F) {
	f.Add([]byte("a LOGIN b s\r\nb SELECT INBOX\r\n"), []byte{3, 50, 1}, uint8(7))
	f.Add([]byte("a LOGIN {1}\r\nb {3}\r\nsec\r\nc NOOP\r\n"), []byte{100}, uint8(1))
	f.Add([]byte("x STARTTLS\r\nrest"), []byte{2, 2, 2}, uint8(64))
	f.Add(bytes.Repeat([]byte("y"), 9000), []byte{200}, uint8(255))
	f.Fuzz(func(t *testing.T, in, chunks []byte, psize uint8) {
		srv := &Server{cfg: Config{SSL: "no"}}
		st := &connState{srv: srv}
		sizes := make([]int, len(chunks))
		for i, c := range chunks {
			sizes[i] = int(c)
		}
		c := newRewriteConn(&chunkConn{in: bytes.Clone(in), chunks: sizes}, st)
		p := make([]byte, int(psize)+1)
		var got []byte
		for reads := 0; reads < 3; reads++ {
			n, err := c.Read(p)
			b := p[:n]
			if i := bytes.IndexByte(b, '\n'); i >= 0 && i != len(b)-1 {
				t.Fatalf("read %q goes past a line end", b)
			}
			got = append(got, b...)
			if err != nil {
				break
			}
		}
		_, pending := c.detach()
		all := append(got, pending...)
		if !bytes.HasPrefix(in, all) {
			t.Fatalf("served %q + held %q is not a prefix of %q", got, pending, in)
		}
		if n, err := c.Read(p); n != 0 || err != io.EOF {
			t.Fatalf("read after detach: %d %v", n, err)
		}
	})
}
