// SPDX-License-Identifier: MIT

package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
)

// The addresses of the anchor scenario: the server is mail.hamap.local on
// 127.0.0.13; 127.0.0.20 is the trusted PC (Connect:127.0.0 RELAY);
// 127.1.0.5 has no name, 127.1.0.9 is pc9.elsewhere.example and
// 127.1.0.7 is pc7.hamap.local (trusted through Connect:hamap.local).
const (
	serverIP    = "127.0.0.13"
	trustedIP   = "127.0.0.20"
	untrustedIP = "127.1.0.5"
	namedIP     = "127.1.0.9"
	hamapIP     = "127.1.0.7"
	forgedIP    = "127.1.0.11"
)

var anchorAccess = map[string]string{
	"Connect:127.0.0":               "RELAY",
	"Connect:hamap.local":           "RELAY",
	"Connect:localhost.localdomain": "RELAY",
	"Connect:127.0.0.1":             "RELAY",
	"Connect:localhost":             "RELAY",
}

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

type envOpts struct {
	access       map[string]string
	relayDomains string
	cfText       func(string) string // edits the cf text before parsing
	auth         Authenticator
	users        []string
	tls          *tls.Config
	modifiers    string // DaemonPortOptions Modifiers of the listener
	etrn         func(ctx context.Context, match string) error
}

type testEnv struct {
	addr  string
	spool *DirSpool
	log   *syncBuffer
	srv   *Server
	dns   *testDNS
	cfg   *cf.Config
}

func loadTestCF(t testing.TB, root string, edit func(string) string) (*cf.Config, string) {
	t.Helper()
	text, err := os.ReadFile("testdata/hamap.cf")
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	if edit != nil {
		s = edit(s)
	}
	cfg, err := cf.Parse(strings.NewReader(s), "hamap.cf", cf.Options{Root: root, NoUserLookup: true})
	if err != nil {
		t.Fatalf("parse cf: %v", err)
	}
	return cfg, s
}

// testRoot makes the directory tree the test cf's F lines read.
func testRoot(t testing.TB, relayDomains string) string {
	root := t.TempDir()
	etc := filepath.Join(root, "etc", "mail")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "local-host-names"), []byte("hamap.local\nmail.hamap.local\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "relay-domains"), []byte(relayDomains), 0o644)
	return root
}

func newEnv(t testing.TB, o envOpts) *testEnv {
	t.Helper()
	root := testRoot(t, o.relayDomains)
	cfg, text := loadTestCF(t, root, o.cfText)
	cfg.QueueDirectory = filepath.Join(root, "mqueue")
	os.MkdirAll(cfg.QueueDirectory, 0o755)

	d := startDNS(t)
	d.mu.Lock()
	d.ptr[namedIP] = "pc9.elsewhere.example."
	d.a["pc9.elsewhere.example"] = []string{namedIP}
	d.ptr[hamapIP] = "pc7.hamap.local."
	d.a["pc7.hamap.local"] = []string{hamapIP}
	d.ptr[forgedIP] = "liar.example."
	d.a["liar.example"] = []string{"192.0.2.1"}
	d.mx["outside.example"] = []string{"mx.outside.example"}
	d.mu.Unlock()

	f := DetectFeatures(text)
	host, _ := cfg.Macro("j")
	pol := NewPolicy(cfg, f, host, []string{host, "mail", "[" + serverIP + "]"})
	access := o.access
	if access == nil {
		access = anchorAccess
	}
	pol.Access = &accessdb.Checker{Map: accessdb.NewMemMap(access), Skip: f.AccessSkip, TempFail: true}
	pol.Resolver = d.resolver()
	users := RecipientSet{}
	for _, u := range append([]string{"a", "b", "root", "postmaster"}, o.users...) {
		users[u] = true
	}
	pol.Recipients = users

	logBuf := &syncBuffer{}
	lg := maillog.New(logBuf, maillog.Options{Ident: "sendmail", Host: "mail"})
	spool := &DirSpool{Dir: cfg.QueueDirectory, Keep: true}
	srv, err := NewServer(Config{CF: cfg, Policy: pol, Spool: spool, Log: lg, Auth: o.auth, TLS: o.tls, ETRN: o.etrn})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", serverIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	po := cf.PortOptions{Name: "MTA", Port: "smtp", Family: "inet"}
	if len(cfg.DaemonPortOptions) > 0 {
		po = cfg.DaemonPortOptions[0]
	}
	if o.modifiers != "" {
		po, err = parsePortOptions("Name=MTA, M=" + o.modifiers)
		if err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, po) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return &testEnv{addr: ln.Addr().String(), spool: spool, log: logBuf, srv: srv, dns: d, cfg: cfg}
}

// client is a test SMTP client bound to a source address.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *textproto.Reader
	w    *bufio.Writer
}

func (e *testEnv) dial(t testing.TB, src string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp4", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, r: textproto.NewReader(bufio.NewReader(c)), w: bufio.NewWriter(c)}
}

// reply reads one (possibly multi-line) reply, lines joined by "\n".
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadLine()
		if err != nil {
			lines = append(lines, "<"+err.Error()+">")
			return strings.Join(lines, "\n")
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends one line and returns the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

func (c *client) send(raw string) {
	c.t.Helper()
	c.w.WriteString(raw)
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// parsePortOptions reads a DaemonPortOptions value through pkg/cf.
func parsePortOptions(v string) (cf.PortOptions, error) {
	c, err := cf.Parse(strings.NewReader("O DaemonPortOptions="+v+"\n"), "po.cf", cf.Options{NoClassFiles: true, NoUserLookup: true})
	if err != nil {
		return cf.PortOptions{}, err
	}
	return c.DaemonPortOptions[0], nil
}
