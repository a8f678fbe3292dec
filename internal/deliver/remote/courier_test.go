// SPDX-License-Identifier: MIT

package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/dsn"
	"mailsuite/internal/testutil/dnstest"
)

// sinkMsg is one transaction a sink accepted.
type sinkMsg struct {
	From  string
	To    []string
	Data  string
	Opts  smtp.MailOptions
	Rcpts []smtp.RcptOptions
	TLS   bool
}

// sink is a loopback go-smtp server: RCPT bad* gets 550, slow* 451.
type sink struct {
	mu   sync.Mutex
	msgs []sinkMsg
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &sinkSession{s: s, conn: c}, nil
}

func (s *sink) got() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

type sinkSession struct {
	s    *sink
	cur  sinkMsg
	conn *smtp.Conn
}

func (ss *sinkSession) Mail(from string, o *smtp.MailOptions) error {
	_, isTLS := ss.conn.TLSConnectionState()
	ss.cur = sinkMsg{From: from, TLS: isTLS}
	if o != nil {
		ss.cur.Opts = *o
	}
	return nil
}

func (ss *sinkSession) Rcpt(to string, o *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "bad"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
	case strings.HasPrefix(to, "slow"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "<" + to + ">: Temporary lookup failure"}
	}
	ss.cur.To = append(ss.cur.To, to)
	if o != nil {
		ss.cur.Rcpts = append(ss.cur.Rcpts, *o)
	}
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as ABC123"}
}

func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

// startSink listens on ip:port (port 0: any) and returns the sink and
// its port.
func startSink(t *testing.T, ip string, port int, tlsCfg *tls.Config) (*sink, int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Skipf("listen on %s: %v", ip, err)
	}
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink." + ip
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.EnableDSN = true
	srv.MaxMessageBytes = 1 << 20
	srv.TLSConfig = tlsCfg
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s, ln.Addr().(*net.TCPAddr).Port
}

// selfSigned makes a throwaway certificate for a STARTTLS sink.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"tls.a.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

const testMsg = "From: a@hamap.local\nTo: x@a.test\nSubject: hi\n\nbody line\n"

func newMsg(domain string, rcpts ...string) *Message {
	m := &Message{From: "a@hamap.local", Domain: domain,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(testMsg)), nil }}
	for _, r := range rcpts {
		m.Rcpts = append(m.Rcpts, Rcpt{Addr: r})
	}
	return m
}

// outcome is the part of a Result the tests compare.
type outcome struct {
	Rcpt, Stat, DSN, Relay string
	Code                   int
}

func outcomes(rs []Result) []outcome {
	var out []outcome
	for _, r := range rs {
		out = append(out, outcome{r.Rcpt, r.Stat, r.DSN, r.Relay, r.Code})
	}
	return out
}

func TestDeliver(t *testing.T) {
	dns := dnstest.New(t)
	main, port := startSink(t, "127.0.0.21", 0, nil)
	smart, _ := startSink(t, "127.0.0.22", port, nil)
	table, _ := startSink(t, "127.0.0.23", port, nil)
	tlsSink, _ := startSink(t, "127.0.0.24", port, selfSigned(t))
	// 127.0.0.29 has no listener: connection refused.
	dns.AddMX("a.test", "mx1.a.test", 10)
	dns.AddA("mx1.a.test", "127.0.0.21")
	dns.AddMX("down.test", "mx9.down.test", 10)
	dns.AddA("mx9.down.test", "127.0.0.29")
	dns.AddMX("backup.test", "mx9.down.test", 10)
	dns.AddMX("backup.test", "mx1.a.test", 20)
	dns.AddMX("loop.test", "mail.hamap.local", 10)
	dns.AddMX("loop2.test", "mx.loop2.test", 10)
	dns.AddA("mx.loop2.test", "127.0.0.1")
	dns.AddMX("behind.test", "mx1.a.test", 20)
	dns.AddMX("behind.test", "mail.hamap.local", 10)
	dns.AddA("nomx.test", "127.0.0.21")
	dns.AddMX("tls.a.test", "tls.a.test", 5)
	dns.AddA("tls.a.test", "127.0.0.24")
	dns.AddA("sh.test", "127.0.0.22")

	base := Courier{Resolver: dns.Resolver(), HeloName: "mail.hamap.local", Port: port,
		LocalNames: []string{"mail.hamap.local", "hamap.local"},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	sent := func(rcpt, relay string) outcome {
		return outcome{rcpt, "Sent (Ok: queued as ABC123)", "2.0.0", relay, 0}
	}
	tests := []struct {
		name  string
		c     func(c *Courier)
		msg   *Message
		want  []outcome
		sink  *sink
		rcpts []string // what the sink should have got in one transaction
	}{
		{name: "mx", msg: newMsg("a.test", "x@a.test", "y@a.test"),
			want: []outcome{sent("x@a.test", "mx1.a.test. [127.0.0.21]"), sent("y@a.test", "mx1.a.test. [127.0.0.21]")},
			sink: main, rcpts: []string{"x@a.test", "y@a.test"}},
		{name: "per-recipient replies", msg: newMsg("a.test", "bad@a.test", "slow@a.test", "ok@a.test"),
			want: []outcome{
				{"bad@a.test", "User unknown", "5.1.1", "mx1.a.test. [127.0.0.21]", 67},
				{"slow@a.test", "Deferred: 451 4.3.0 <slow@a.test>: Temporary lookup failure", "4.3.0", "mx1.a.test. [127.0.0.21]", 75},
				sent("ok@a.test", "mx1.a.test. [127.0.0.21]"),
			}, sink: main, rcpts: []string{"ok@a.test"}},
		{name: "all recipients refused", msg: newMsg("a.test", "bad@a.test"),
			want: []outcome{{"bad@a.test", "User unknown", "5.1.1", "mx1.a.test. [127.0.0.21]", 67}}},
		{name: "connection refused", msg: newMsg("down.test", "x@down.test"),
			want: []outcome{{"x@down.test", "Deferred: Connection refused by mx9.down.test.", "4.4.1", "mx9.down.test. [127.0.0.29]", 75}}},
		{name: "first mx down", msg: newMsg("backup.test", "z@backup.test"),
			want: []outcome{sent("z@backup.test", "mx1.a.test. [127.0.0.21]")}, sink: main, rcpts: []string{"z@backup.test"}},
		{name: "mx is us", msg: newMsg("loop.test", "x@loop.test"),
			want: []outcome{{"x@loop.test", "Local configuration error", "5.3.5", "", 78}}},
		{name: "mx address is ours", msg: newMsg("loop2.test", "x@loop2.test"),
			want: []outcome{{"x@loop2.test", "Local configuration error", "5.3.5", "", 78}}},
		{name: "we are the best mx", msg: newMsg("behind.test", "x@behind.test"),
			want: []outcome{{"x@behind.test", "Local configuration error", "5.3.5", "", 78}}},
		{name: "no mx: address record", msg: newMsg("nomx.test", "n@nomx.test"),
			want: []outcome{sent("n@nomx.test", "nomx.test. [127.0.0.21]")}, sink: main, rcpts: []string{"n@nomx.test"}},
		{name: "unknown domain", msg: newMsg("nowhere.test", "n@nowhere.test"),
			want: []outcome{{"n@nowhere.test", "Host unknown (Name server: nowhere.test: host not found)", "5.1.2", "", 68}}},
		{name: "dns failure defers", msg: newMsg("servfail.test", "n@servfail.test"),
			want: []outcome{{"n@servfail.test", "Deferred: Name server: servfail.test: host name lookup failure", "4.4.3", "", 75}}},
		{name: "smart host", c: func(c *Courier) { c.SmartHost = "relay:[sh.test]" }, msg: newMsg("nowhere.test", "s@nowhere.test"),
			want: []outcome{sent("s@nowhere.test", "sh.test. [127.0.0.22]")}, sink: smart, rcpts: []string{"s@nowhere.test"}},
		{name: "mailertable before smart host", c: func(c *Courier) {
			c.SmartHost = "relay:[sh.test]"
			c.Mailertable = func(d string) (string, bool) { return "esmtp:[127.0.0.23]", d == "mt.test" }
		}, msg: newMsg("mt.test", "m@mt.test"),
			want: []outcome{sent("m@mt.test", "[127.0.0.23] [127.0.0.23]")}, sink: table, rcpts: []string{"m@mt.test"}},
		{name: "mailertable parent domain", c: func(c *Courier) {
			c.SmartHost = "relay:[sh.test]"
			c.Mailertable = func(d string) (string, bool) { return "relay:[127.0.0.23]", d == ".mt.test" }
		}, msg: newMsg("Sub.MT.test", "p@sub.mt.test"),
			want: []outcome{sent("p@sub.mt.test", "[127.0.0.23] [127.0.0.23]")}, sink: table, rcpts: []string{"p@sub.mt.test"}},
		{name: "mailertable names the domain itself", c: func(c *Courier) {
			c.SmartHost = "relay:[sh.test]"
			c.Mailertable = func(d string) (string, bool) { return "esmtp:a.test", d == "a.test" }
		}, msg: newMsg("a.test", "w@a.test"),
			want: []outcome{sent("w@a.test", "mx1.a.test. [127.0.0.21]")}, sink: main, rcpts: []string{"w@a.test"}},
		{name: "smart host is us", c: func(c *Courier) { c.SmartHost = "[127.0.0.1]" }, msg: newMsg("a.test", "x@a.test"),
			want: []outcome{{"x@a.test", "Local configuration error", "5.3.5", "", 78}}},
		{name: "starttls with a self-signed certificate", msg: newMsg("tls.a.test", "t@tls.a.test"),
			want: []outcome{sent("t@tls.a.test", "tls.a.test. [127.0.0.24]")}, sink: tlsSink, rcpts: []string{"t@tls.a.test"}},
		{name: "starttls verified: untrusted certificate defers", c: func(c *Courier) { c.VerifyTLS = true }, msg: newMsg("tls.a.test", "v@tls.a.test"),
			want: []outcome{{"v@tls.a.test", "Deferred: tls: failed to verify certificate: x509: certificate signed by unknown authority", "4.4.1", "tls.a.test. [127.0.0.24]", 75}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.c != nil {
				tc.c(&c)
			}
			var before int
			if tc.sink != nil {
				before = len(tc.sink.got())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := c.Deliver(ctx, tc.msg)
			if d := cmp.Diff(tc.want, outcomes(got)); d != "" {
				t.Errorf("results (-want +got):\n%s", d)
			}
			if tc.sink == nil {
				return
			}
			msgs := tc.sink.got()[before:]
			if len(msgs) != 1 {
				t.Fatalf("sink got %d transactions, want 1", len(msgs))
			}
			if d := cmp.Diff(tc.rcpts, msgs[0].To); d != "" {
				t.Errorf("sink recipients (-want +got):\n%s", d)
			}
			if want := strings.ReplaceAll(testMsg, "\n", "\r\n"); msgs[0].Data != want {
				t.Errorf("sink data = %q, want %q", msgs[0].Data, want)
			}
			if tc.sink == tlsSink && !msgs[0].TLS {
				t.Error("the message did not go over TLS")
			}
		})
	}
}

func TestNotification(t *testing.T) {
	last := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	bad := Result{Rcpt: "bad@a.test", RemoteMTA: "mx1.a.test.", Reply: "550 5.1.1 <bad@a.test>: User unknown"}
	bad.Status = replyStatus(bad, "RCPT", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<bad@a.test>: User unknown"}, true).Status
	refused := connStatus(Result{Rcpt: "x@down.test", RemoteMTA: "mx9.down.test."}, mxHost{Name: "mx9.down.test."}, syscall.ECONNREFUSED)
	refused.Rcpt = "x@down.test"
	tests := []struct {
		name string
		r    Result
		want dsn.Recipient
	}{
		{"550", bad, dsn.Recipient{Addr: "bad@a.test", Action: "failed", Status: "5.1.1", RemoteMTA: "mx1.a.test",
			Diagnostic: "550 5.1.1 <bad@a.test>: User unknown", LastAttempt: last}},
		{"refused", refused, dsn.Recipient{Addr: "x@down.test", Action: "delayed", Status: "4.4.1", RemoteMTA: "mx9.down.test",
			Reason: "Deferred: Connection refused by mx9.down.test.", LastAttempt: last}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tc.r.Notification("", last)); d != "" {
				t.Errorf("Notification (-want +got):\n%s", d)
			}
		})
	}
}

func TestShuffleEqual(t *testing.T) {
	in := []*net.MX{{Host: "c.", Pref: 20}, {Host: "a.", Pref: 10}, {Host: "b.", Pref: 10}}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		out := shuffleEqual(in)
		var hosts []string
		for _, mx := range out {
			hosts = append(hosts, mx.Host)
		}
		if hosts[2] != "c." {
			t.Fatalf("order %v: the preference-20 host must come last", hosts)
		}
		seen[strings.Join(hosts, " ")] = true
	}
	if d := cmp.Diff(map[string]bool{"a. b. c.": true, "b. a. c.": true}, seen); d != "" {
		t.Errorf("orders seen over 200 runs (-want +got):\n%s", d)
	}
}
