// SPDX-License-Identifier: MIT

package mta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/queue"
	"mailsuite/internal/testutil/dnstest"
	"mailsuite/pkg/cf"
)

// sinkMsg is one transaction a sink accepted.
type sinkMsg struct {
	From string
	To   []string
	Data string
}

// sink is a loopback SMTP server: RCPT bad* gets 550 5.1.1, slow* 451.
type sink struct {
	mu   sync.Mutex
	msgs []sinkMsg
	srv  *smtp.Server
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

func (s *sink) got() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

type sinkSession struct {
	s   *sink
	cur sinkMsg
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur = sinkMsg{From: from}
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "bad"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
	case strings.HasPrefix(to, "slow"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "<" + to + ">: Temporary lookup failure"}
	}
	ss.cur.To = append(ss.cur.To, to)
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
	return nil
}

func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

// net holds the test's DNS server and the port every sink of the test
// listens on; the MTA's dialer sends port 25 there.
type testNet struct {
	dns  *dnstest.Server
	port int
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return &testNet{dns: dnstest.New(t), port: port}
}

// sinkOn starts a sink on ip at the test's port; stop closes it (a
// refused connection from then on).
func (n *testNet) sinkOn(t *testing.T, ip string) (s *sink, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(n.port)))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	s = &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink." + ip
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.EnableDSN = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	var once sync.Once
	stop = func() { once.Do(func() { srv.Close() }) }
	t.Cleanup(stop)
	return s, stop
}

func (n *testNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, _ := net.SplitHostPort(addr)
	if port == "25" {
		addr = net.JoinHostPort(host, strconv.Itoa(n.port))
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// clock is a time source the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newRemoteMTA builds an MTA over the fixture's cf whose DNS and
// connections stay in the test.
func newRemoteMTA(t *testing.T, f *fixture, n *testNet, clk *clock) *MTA {
	t.Helper()
	c, err := cf.Load(f.cf, cf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{CF: c, Log: f.logger, Hostname: "mail.hamap.local", SpoolDir: f.spool,
		Resolver: n.dns.Resolver(), Dial: n.dial}
	if clk != nil {
		o.Now = clk.now
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func submit(t *testing.T, m *MTA, from string, rcpts []string, body string, now bool) string {
	t.Helper()
	id, err := m.Submit(context.Background(), Submission{Sender: from, LocalUser: from, ExplicitSender: true, Recipients: rcpts, IgnoreDots: true},
		strings.NewReader(body), now)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) readQF(t *testing.T, id string) *queue.Envelope {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.work, "mqueue", "qf"+id))
	if err != nil {
		t.Fatal(err)
	}
	env, err := queue.ReadEnvelope(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func mailq(t *testing.T, m *MTA) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := queue.List(&b, m.Queue().Dir(), queue.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func logHas(t *testing.T, f *fixture, re string) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(f.log.String()) {
		t.Errorf("log lacks %s:\n%s", re, f.log.String())
	}
}

// TestDeferThenDeliver: the far side is down, so the message is
// deferred (logged, listed by mailq with the reason, its priority grown
// by RetryFactor per queue run); the queue run after it comes back
// delivers it once.
func TestDeferThenDeliver(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	m := newRemoteMTA(t, f, n, nil)
	ctx := context.Background()
	id := submit(t, m, "a", []string{"friend@other.test"}, "Subject: far\n\nhi\n", true)

	logHas(t, f, regexp.QuoteMeta(id+": to=friend@other.test, ctladdr=a (1023/1023), delay=")+`00:00:0\d, xdelay=00:00:0\d, mailer=esmtp, pri=\d+, `+
		regexp.QuoteMeta("relay=mx.other.test. [127.0.0.41], dsn=4.4.1, stat=Deferred: Connection refused by mx.other.test.\n"))
	env := f.readQF(t, id)
	if env.Attempts != 1 || env.LastAttempt == 0 || env.Message != "Deferred: Connection refused by mx.other.test." {
		t.Errorf("qf after the attempt: N%d K%d M%q", env.Attempts, env.LastAttempt, env.Message)
	}
	if q := mailq(t, m); !strings.Contains(q, "\n                 (Deferred: Connection refused by mx.other.test.)\n\t\t\t\t\t friend@other.test\n") {
		t.Errorf("mailq:\n%s", q)
	}
	first := env.Priority

	// A second run while it is still down: the priority grows again.
	if _, err := m.RunQueue(ctx, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	env = f.readQF(t, id)
	if env.Priority != first+queue.RetryFactor || env.Attempts != 2 {
		t.Errorf("after a queue run: P%d N%d, want P%d N2", env.Priority, env.Attempts, first+queue.RetryFactor)
	}

	s, _ := n.sinkOn(t, "127.0.0.41")
	if _, err := m.RunQueue(ctx, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	got := s.got()
	if len(got) != 1 || got[0].From != "a@mail.hamap.local" || !cmp.Equal(got[0].To, []string{"friend@other.test"}) {
		t.Fatalf("sink got %+v\nlog:\n%s", got, f.log.String())
	}
	if !regexp.MustCompile(`^Received: \(from a@localhost\)\r\n\tby mail\.hamap\.local \(8\.17\.1\.9/8\.17\.1\.9\) id `+id+`\r\n\tfor <friend@other\.test>; `).MatchString(got[0].Data) ||
		!strings.Contains(got[0].Data, "\r\nSubject: far\r\n\r\nhi\r\n") {
		t.Errorf("data:\n%s", got[0].Data)
	}
	logHas(t, f, regexp.QuoteMeta(id+": to=friend@other.test, ctladdr=a (1023/1023), delay=")+`\d\d:\d\d:\d\d, xdelay=\d\d:\d\d:\d\d, mailer=esmtp, `+
		fmt.Sprintf("pri=%d, ", first+2*queue.RetryFactor)+regexp.QuoteMeta("relay=mx.other.test. [127.0.0.41], dsn=2.0.0, stat=Sent (OK: queued)\n"))
	if q := f.queueFiles(t); len(q) != 0 {
		t.Errorf("queue after delivery: %v", q)
	}
	// Another run sends nothing twice.
	m.RunQueue(ctx, RunOptions{})
	if len(s.got()) != 1 {
		t.Errorf("sink got %d messages", len(s.got()))
	}
}
