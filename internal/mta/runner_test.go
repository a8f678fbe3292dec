// SPDX-License-Identifier: MIT

package mta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/deliver"
	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/makemap"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
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
	dns   *dnstest.Server
	port  int
	mu    sync.Mutex
	dials map[string]int
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return &testNet{dns: dnstest.New(t), port: port, dials: map[string]int{}}
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
	// Closing the listener too: Serve may not have registered it yet.
	stop = func() { once.Do(func() { ln.Close(); srv.Close() }) }
	t.Cleanup(stop)
	return s, stop
}

func (n *testNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, _ := net.SplitHostPort(addr)
	n.mu.Lock()
	n.dials[host]++
	n.mu.Unlock()
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
	if !regexp.MustCompile(`^Received: \(from a@localhost\)\r\n\tby mail\.hamap\.local \(8\.17\.1\.9/8\.17\.1\.9\) id `+id+`\r\n\tfor friend@other\.test; `).MatchString(got[0].Data) ||
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

// dsnShape reduces a notification to its structure: the header field
// names, the MIME boundaries and part types, the section markers of the
// text part, and the field names of the delivery-status part, up to the
// returned message. Texts that depend on the failure are left out.
func dsnShape(msg string) []string {
	var out []string
	lines := strings.Split(strings.ReplaceAll(msg, "\r\n", "\n"), "\n")
	i := 0
	for ; i < len(lines) && lines[i] != ""; i++ {
		if name, _, ok := strings.Cut(lines[i], ":"); ok && lines[i][0] != ' ' && lines[i][0] != '\t' {
			out = append(out, name+":")
		}
	}
	field := regexp.MustCompile(`^[A-Z][A-Za-z-]*: `)
	for _, l := range lines[i:] {
		switch {
		case strings.HasPrefix(l, "--"):
			out = append(out, "--boundary")
		case strings.HasPrefix(l, "   -----"), strings.HasPrefix(l, "    **"), l == "This is a MIME-encapsulated message":
			out = append(out, l)
		case strings.HasPrefix(l, "    (reason: "):
			out = append(out, "(reason)")
		case field.MatchString(l) && !strings.HasPrefix(l, "Original-Envelope-Id:"):
			name, _, _ := strings.Cut(l, ":")
			out = append(out, name+":")
			if strings.HasPrefix(l, "Content-Type: message/rfc822") || strings.HasPrefix(l, "Content-Type: text/rfc822-headers") {
				return out
			}
		}
	}
	return out
}

// mboxMessage returns the n-th message of an mbox without its From_ line.
func mboxMessage(t *testing.T, mbox string, n int) string {
	t.Helper()
	parts := regexp.MustCompile(`(?m)^From \S+  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n`).Split(mbox, -1)
	if len(parts) < n+2 {
		t.Fatalf("mbox has %d messages, want message %d:\n%s", len(parts)-1, n, mbox)
	}
	return parts[n+1]
}

func vectorShape(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dsn", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return dsnShape(string(b))
}

// TestBounces: permanent failures of every kind come back to the sender
// as a DSN shaped like the real sendmail's, logged as sendmail logs it;
// a failed notification goes to the postmaster.
func TestBounces(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	s, _ := n.sinkOn(t, "127.0.0.41")
	m := newRemoteMTA(t, f, n, nil)
	for _, tc := range []struct {
		name, rcpt, listed, reason, ds string
	}{
		{"550", "bad@other.test", "bad@other.test", "    (reason: 550 5.1.1 <bad@other.test>: Recipient address rejected: User unknown)\n",
			"Final-Recipient: RFC822; bad@other.test\nX-Actual-Recipient: rfc822; bad@other.test\nAction: failed\nStatus: 5.1.1\nRemote-MTA: DNS; mx.other.test\n" +
				"Diagnostic-Code: SMTP; 550 5.1.1 <bad@other.test>: Recipient address rejected: User unknown\n"},
		{"unknown domain", "x@nowhere.test", "x@nowhere.test", "    (reason: Host unknown (Name server: nowhere.test: host not found))\n",
			"Final-Recipient: RFC822; x@nowhere.test\nX-Actual-Recipient: rfc822; x@nowhere.test\nAction: failed\nStatus: 5.1.2\n"},
		{"local user unknown at delivery", "ghost", "ghost", "    (reason: 550 5.1.1 User unknown)\n",
			"Final-Recipient: RFC822; ghost@mail.hamap.local\nX-Actual-Recipient: rfc822; ghost@mail.hamap.local\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: X-Unix; 550 5.1.1 User unknown\n"},
		{"program fails", "broken", `"|/bin/false"`, "    (reason: 1)\n    (expanded from: broken)\n",
			"Final-Recipient: RFC822; broken@mail.hamap.local\nX-Actual-Recipient: X-Unix; |/bin/false\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: X-Unix; 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(f.spool, "a"))
			id := submit(t, m, "a", []string{tc.rcpt, "ok@other.test"}, "Subject: will bounce\n\nhi\n", true)
			bounce := mboxMessage(t, f.mbox(t, "a"), 0)
			if !strings.HasPrefix(bounce, "Return-Path: <>\nReceived: from localhost (localhost)\n\tby mail.hamap.local (8.17.1.9/8.17.1.9) id ") ||
				!strings.Contains(bounce, "\nTo: a\n") || !strings.Contains(bounce, "\n   ----- The following addresses had permanent fatal errors -----\n"+tc.listed+"\n"+tc.reason) ||
				!strings.Contains(bounce, "\nSubject: will bounce\n\nhi\n") || !strings.Contains(bounce, "\n\n"+tc.ds) {
				t.Errorf("bounce:\n%s", bounce)
			}
			want := []string{"Return-Path:"}
			switch tc.name {
			case "local user unknown at delivery":
				want = append(want, vectorShape(t, "real-bounce-local.eml")...)
			case "program fails":
				want = append(want, vectorShape(t, "real-bounce-prog.eml")...)
			default:
				for _, l := range vectorShape(t, "real-bounce.eml") {
					// Only a far server's reply gives these two.
					if tc.name == "550" || (l != "Remote-MTA:" && l != "Diagnostic-Code:") {
						want = append(want, l)
					}
				}
			}
			if d := cmp.Diff(want, dsnShape(bounce)); d != "" {
				t.Errorf("bounce structure (-sendmail +ours):\n%s\n%s", d, bounce)
			}
			logHas(t, f, regexp.QuoteMeta(id+": ")+`\w{14}: DSN: `)
			logHas(t, f, `\w{14}: to=a, delay=\d\d:\d\d:\d\d, xdelay=\d\d:\d\d:\d\d, mailer=local, pri=\d+, dsn=2\.0\.0, stat=Sent\n`)
			if q := f.queueFiles(t); len(q) != 0 {
				t.Errorf("queue: %v", q)
			}
		})
	}
	if got := len(s.got()); got != 4 {
		t.Errorf("the good recipient got %d messages, want 4", got)
	}

	t.Run("postmaster notify", func(t *testing.T) {
		os.Remove(filepath.Join(f.spool, "b"))
		id := submit(t, m, "", []string{"bad@other.test"}, "Subject: a bounce that bounces\n\nhi\n", true)
		// postmaster is an alias of b.
		bounce := mboxMessage(t, f.mbox(t, "b"), 0)
		if !strings.Contains(bounce, "\nTo: postmaster\n") || !strings.Contains(bounce, "Subject: Returned mail: see transcript for details\n") {
			t.Errorf("postmaster notification:\n%s", bounce)
		}
		logHas(t, f, regexp.QuoteMeta(id+": ")+`\w{14}: postmaster notify: User unknown\n`)
	})
}

// TestQueueTimeouts moves the clock: past Timeout.queuewarn (4h) the
// sender gets one delay warning shaped like sendmail's; past
// Timeout.queuereturn (5d) the message comes back and leaves the queue.
func TestQueueTimeouts(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	clk := &clock{t: time.Now()}
	m := newRemoteMTA(t, f, n, clk)
	ctx := context.Background()
	id := submit(t, m, "a", []string{"later@other.test"}, "Subject: slow\n\nhi\n", true)
	if _, err := os.Stat(filepath.Join(f.spool, "a")); err == nil {
		t.Fatalf("a notification before queuewarn:\n%s", f.mbox(t, "a"))
	}
	clk.add(3 * time.Hour)
	m.RunQueue(ctx, RunOptions{})
	if _, err := os.Stat(filepath.Join(f.spool, "a")); err == nil {
		t.Fatalf("a notification before queuewarn:\n%s", f.mbox(t, "a"))
	}
	clk.add(time.Hour + time.Minute)
	m.RunQueue(ctx, RunOptions{})
	warning := mboxMessage(t, f.mbox(t, "a"), 0)
	if !strings.Contains(warning, "\nSubject: Warning: could not send message for past 4 hours\n") ||
		!strings.Contains(warning, "\n   ----- Transcript of session follows -----\nlater@other.test... Deferred: Connection refused by mx.other.test.\nWarning: message still undelivered after 4 hours\nWill keep trying until message is 5 days old\n") {
		t.Errorf("warning:\n%s", warning)
	}
	want := []string{"Return-Path:"}
	for _, l := range vectorShape(t, "real-warning.eml") {
		// A refused connection has a Remote-MTA but no reply.
		if l != "Diagnostic-Code:" {
			want = append(want, l)
		}
	}
	if d := cmp.Diff(want, dsnShape(warning)); d != "" {
		t.Errorf("warning structure (-sendmail +ours):\n%s\n%s", d, warning)
	}
	logHas(t, f, regexp.QuoteMeta(id+": ")+`\w{14}: DSN: Warning: could not send message for past 4 hours\n`)
	if env := f.readQF(t, id); !strings.Contains(env.Flags, "w") || len(env.Recipients) != 1 {
		t.Errorf("qf after the warning: F%q, %d recipients", env.Flags, len(env.Recipients))
	}
	// One warning only.
	clk.add(time.Hour)
	m.RunQueue(ctx, RunOptions{})
	if got := strings.Count(f.mbox(t, "a"), "\nFrom: Mail Delivery Subsystem"); got != 1 {
		t.Errorf("%d notifications after a second run, want 1", got)
	}

	clk.add(5 * 24 * time.Hour)
	m.RunQueue(ctx, RunOptions{})
	bounce := mboxMessage(t, f.mbox(t, "a"), 1)
	if !strings.Contains(bounce, "\nSubject: Returned mail: see transcript for details\n") ||
		!strings.Contains(bounce, "\nlater@other.test... Deferred: Connection refused by mx.other.test.\nMessage could not be delivered for 5 days\nMessage will be deleted from queue\n") ||
		!strings.Contains(bounce, "\nAction: failed\nStatus: 4.4.7\n") {
		t.Errorf("bounce:\n%s", bounce)
	}
	logHas(t, f, regexp.QuoteMeta(id+": ")+`\w{14}: DSN: Cannot send message for 5 days\n`)
	if q := f.queueFiles(t); len(q) != 0 {
		t.Errorf("queue after queuereturn: %v", q)
	}
}

// TestRoutes: SMART_HOST takes every remote recipient (relay mailer),
// and a mailertable entry (the domain, or ".parent") wins over both the
// smart host and the MX records; an error: entry fails at once.
func TestRoutes(t *testing.T) {
	dir := t.TempDir()
	mt := filepath.Join(dir, "mailertable")
	var out, errb bytes.Buffer
	src := "table.test esmtp:[127.0.0.43]\n.sub.test smtp:mx.sub.test\nno.test error:5.7.1:550 No mail for you\n"
	if code := makemap.Main([]string{"makemap", "hash", mt}, strings.NewReader(src), &out, &errb); code != 0 {
		t.Fatalf("makemap: %d %s", code, errb.String())
	}
	f := newFixture(t, map[string]string{"SMART": "relay:[127.0.0.42]", "MAILERTABLE": mt})
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	n.dns.AddA("mx.sub.test", "127.0.0.44")
	mx, _ := n.sinkOn(t, "127.0.0.41")
	smart, _ := n.sinkOn(t, "127.0.0.42")
	table, _ := n.sinkOn(t, "127.0.0.43")
	sub, _ := n.sinkOn(t, "127.0.0.44")
	m := newRemoteMTA(t, f, n, nil)
	id := submit(t, m, "a", []string{"x@other.test", "y@table.test", "z@a.sub.test", "w@no.test"}, "Subject: routes\n\nhi\n", true)
	for _, c := range []struct {
		name string
		s    *sink
		want []string
	}{{"mx", mx, nil}, {"smart host", smart, []string{"x@other.test"}}, {"mailertable", table, []string{"y@table.test"}}, {".parent", sub, []string{"z@a.sub.test"}}} {
		var got []string
		for _, msg := range c.s.got() {
			got = append(got, msg.To...)
		}
		if !cmp.Equal(got, c.want) {
			t.Errorf("%s got %v, want %v", c.name, got, c.want)
		}
	}
	logHas(t, f, regexp.QuoteMeta(id+": to=x@other.test, ctladdr=a (1023/1023), ")+`.*mailer=relay, pri=\d+, `+regexp.QuoteMeta("relay=[127.0.0.42] [127.0.0.42], dsn=2.0.0, stat=Sent (OK: queued)\n"))
	logHas(t, f, regexp.QuoteMeta(id+": to=y@table.test, ctladdr=a (1023/1023), ")+`.*mailer=esmtp, pri=\d+, `+regexp.QuoteMeta("relay=[127.0.0.43] [127.0.0.43], dsn=2.0.0, stat=Sent (OK: queued)\n"))
	logHas(t, f, regexp.QuoteMeta(id+": to=z@a.sub.test, ctladdr=a (1023/1023), ")+`.*mailer=smtp, pri=\d+, `+regexp.QuoteMeta("relay=mx.sub.test. [127.0.0.44], dsn=2.0.0, stat=Sent (OK: queued)\n"))
	logHas(t, f, regexp.QuoteMeta(id+": to=w@no.test, ctladdr=a (1023/1023), ")+`.*mailer=error, pri=\d+, dsn=5\.7\.1, stat=No mail for you\n`)
	if !strings.Contains(f.mbox(t, "a"), "\nw@no.test\n    (reason: 550 5.7.1 No mail for you)\n") {
		t.Errorf("bounce:\n%s", f.mbox(t, "a"))
	}
}

// TestSelectors: -qR, -qS, -qI and their negations pick the messages a
// run tries; MinQueueAge holds back recently tried ones.
func TestSelectors(t *testing.T) {
	f := newFixture(t, map[string]string{"MINAGE": "30m"})
	n := newTestNet(t)
	for _, d := range []string{"one.test", "two.test"} {
		n.dns.AddMX(d, "mx."+d, 10)
	}
	n.dns.AddA("mx.one.test", "127.0.0.41")
	n.dns.AddA("mx.two.test", "127.0.0.41")
	clk := &clock{t: time.Now()}
	m := newRemoteMTA(t, f, n, clk)
	ctx := context.Background()
	ids := map[string]string{
		"one": submit(t, m, "a", []string{"x@one.test"}, "Subject: 1\n\n", false),
		"two": submit(t, m, "b", []string{"x@two.test"}, "Subject: 2\n\n", false),
	}
	s, _ := n.sinkOn(t, "127.0.0.41")
	delivered := func() []string {
		var out []string
		for _, msg := range s.got() {
			out = append(out, msg.To...)
		}
		return out
	}
	mustSel := func(args ...string) []Selector {
		var out []Selector
		for _, a := range args {
			sel, err := ParseSelector(a)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sel)
		}
		return out
	}
	for _, step := range []struct {
		sel  []Selector
		want []string
	}{
		{mustSel("Rnobody", "Sa@"), nil},                // kinds are ANDed
		{mustSel("R@TWO.test"), []string{"x@two.test"}}, // case-insensitive
		{mustSel("!I"+ids["two"][:12]+"zz", "Sa"), []string{"x@two.test", "x@one.test"}},
	} {
		if _, err := m.RunQueue(ctx, RunOptions{Select: step.sel}); err != nil {
			t.Fatal(err)
		}
		if got := delivered(); !cmp.Equal(got, step.want) {
			t.Errorf("after %+v: delivered %v, want %v", step.sel, got, step.want)
		}
	}
	for _, bad := range []string{"", "X", "R", "!"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q) accepted", bad)
		}
	}

	// MinQueueAge: a message tried a minute ago waits.
	n.dns.AddMX("three.test", "mx.three.test", 10)
	n.dns.AddA("mx.three.test", "127.0.0.45")
	id := submit(t, m, "a", []string{"x@three.test"}, "Subject: 3\n\n", true)
	if _, err := os.Stat(filepath.Join(f.work, "mqueue", "qf"+id)); err != nil {
		t.Fatalf("not queued: %v\n%s", err, f.log.String())
	}
	tries := f.readQF(t, id).Attempts
	clk.add(time.Minute)
	m.RunQueue(ctx, RunOptions{})
	if got := f.readQF(t, id).Attempts; got != tries {
		t.Errorf("tried again before MinQueueAge: N%d, was N%d", got, tries)
	}
	m.RunQueue(ctx, RunOptions{IgnoreMinAge: true})
	clk.add(30 * time.Minute)
	m.RunQueue(ctx, RunOptions{})
	if got := f.readQF(t, id).Attempts; got != tries+2 {
		t.Errorf("N%d after a forced run and one past MinQueueAge, want N%d", got, tries+2)
	}
}

// TestLoseUnreadable: a queue run moves an unreadable qf aside as Qf,
// logs it, and deletes nothing.
func TestLoseUnreadable(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	m := newRemoteMTA(t, f, n, nil)
	dir := filepath.Join(f.work, "mqueue")
	const id = "6AR0000A000001"
	for name, data := range map[string]string{"qf" + id: "V8\nT1\nthis is not a qf line\n.\n", "df" + id: "body\n"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
	}
	if _, err := m.RunQueue(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := f.queueFiles(t); !cmp.Equal(got, []string{"Qf" + id, "df" + id}) {
		t.Errorf("queue: %v", got)
	}
	logHas(t, f, regexp.QuoteMeta(id+": Losing ./qf"+id+": "))
}

// TestNoDoubleDelivery: concurrent runs (and the background delivery)
// never send one message twice: the qf lock decides.
func TestNoDoubleDelivery(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	m := newRemoteMTA(t, f, n, nil)
	for i := range 20 {
		submit(t, m, "a", []string{fmt.Sprintf("r%d@other.test", i)}, "Subject: x\n\n", false)
	}
	s, _ := n.sinkOn(t, "127.0.0.41")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.RunQueue(context.Background(), RunOptions{})
		}()
	}
	wg.Wait()
	m.RunQueue(context.Background(), RunOptions{})
	seen := map[string]int{}
	for _, msg := range s.got() {
		for _, r := range msg.To {
			seen[r]++
		}
	}
	if len(seen) != 20 {
		t.Errorf("%d recipients delivered, want 20", len(seen))
	}
	for r, c := range seen {
		if c != 1 {
			t.Errorf("%s got %d copies", r, c)
		}
	}
}

// TestETRN: "ETRN other.test" from a client starts a queue run for the
// recipients at that domain.
func TestETRN(t *testing.T) {
	port := freePort(t)
	f := newFixture(t, map[string]string{"PORT": fmt.Sprint(port)})
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	m, cfg, _, closer, err := Load(f.cf, LoadOptions{Log: f.logger, Resolver: n.dns.Resolver(), Dial: n.dial, Hostname: "mail.hamap.local", SpoolDir: f.spool, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); closer() })
	id := submit(t, m, "a", []string{"x@other.test"}, "Subject: etrn\n\nhi\n", true)
	s, _ := n.sinkOn(t, "127.0.0.41")
	srv, err := smtpd.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lns, opts, err := smtpd.Listen(cfg.CF)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lns[0], opts[0])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	c, err := net.DialTimeout("tcp4", lns[0].Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	tp.PrintfLine("EHLO client.test")
	if _, _, err := tp.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	tp.PrintfLine("ETRN other.test")
	if code, msg, err := tp.ReadResponse(250); err != nil {
		t.Fatalf("ETRN: %d %s %v", code, msg, err)
	}
	tp.PrintfLine("QUIT")
	m.Wait()
	if got := s.got(); len(got) != 1 || !cmp.Equal(got[0].To, []string{"x@other.test"}) {
		t.Errorf("sink got %+v\n%s", got, f.log.String())
	}
	if _, err := os.Stat(filepath.Join(f.work, "mqueue", "qf"+id)); err == nil {
		t.Errorf("still queued after ETRN")
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"Rexample.org", "!Sa@b", "I6AR1", "R", "!", "X1", "!!R"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if strings.IndexByte("RSI", sel.Kind) < 0 || sel.Sub == "" {
			t.Fatalf("ParseSelector(%q) = %+v", s, sel)
		}
		o := RunOptions{Select: []Selector{sel}}
		o.match("6AR0000A000001", &queue.Envelope{Sender: "<a@b>", Recipients: []queue.Recipient{{Addr: "<c@d>"}}})
	})
}

// TestTwoServers: two MTAs on two loopback addresses, each local for its
// own domain, find each other through the test's MX records and relay
// in both directions; the Received chain shows both hops.
func TestTwoServers(t *testing.T) {
	port := freePort(t)
	n := newTestNet(t)
	n.port = port
	n.dns.AddMX("hamap.local", "mail.hamap.local", 10)
	n.dns.AddA("mail.hamap.local", "127.0.0.31")
	n.dns.AddMX("other.test", "mail.other.test", 10)
	n.dns.AddA("mail.other.test", "127.0.0.32")
	type side struct {
		f *fixture
		m *MTA
	}
	start := func(ip, host string, defs map[string]string, names string) side {
		defs["PORT"], defs["LISTEN"] = fmt.Sprint(port), ip
		f := newFixture(t, defs)
		if err := os.WriteFile(filepath.Join(f.work, "local-host-names"), []byte(names), 0o644); err != nil {
			t.Fatal(err)
		}
		_, m := startDaemonAs(t, f, n, host)
		return side{f, m}
	}
	a := start("127.0.0.31", "mail.hamap.local", map[string]string{}, "hamap.local\nmail.hamap.local\n")
	b := start("127.0.0.32", "mail.other.test", map[string]string{"DOMAIN_NAME": "mail.other.test"}, "other.test\nmail.other.test\n")

	submit(t, a.m, "a", []string{"b@other.test"}, "From: a@hamap.local\nSubject: across\n\nhello b\n", true)
	b.m.Wait()
	got := b.f.mbox(t, "b")
	re := regexp.MustCompile(`(?s)^From a@mail\.hamap\.local  .*\nReturn-Path: <a@mail\.hamap\.local>\nReceived: from mail\.hamap\.local \(.*\[127\.0\.0\.1\]\)\n\tby mail\.other\.test \(8\.17\.1\.9/8\.17\.1\.9\) with ESMTP id \w{14}\n\tfor <b@other\.test>; .*\nReceived: \(from a@localhost\)\n\tby mail\.hamap\.local \(8\.17\.1\.9/8\.17\.1\.9\) id \w{14}\n\tfor b@other\.test; .*\nSubject: across\n\nhello b\n`)
	if !re.MatchString(got) {
		t.Errorf("b's mbox on other.test:\n%s\nlog of a:\n%s\nlog of b:\n%s", got, a.f.log.String(), b.f.log.String())
	}

	submit(t, b.m, "b", []string{"a@hamap.local"}, "Subject: back\n\nhello a\n", true)
	a.m.Wait()
	if got := a.f.mbox(t, "a"); !strings.Contains(got, "\nReceived: from mail.other.test (") || !strings.Contains(got, "\nSubject: back\n\nhello a\n") {
		t.Errorf("a's mbox on hamap.local:\n%s", got)
	}
	for _, s := range []side{a, b} {
		if q := s.f.queueFiles(t); len(q) != 0 {
			t.Errorf("queue of %s: %v\n%s", s.f.work, q, s.f.log.String())
		}
	}
}

// TestDownHostOncePerRun: within one queue run a host that refused a
// connection is not dialled again for the next message; each message is
// still deferred with the same reason.
func TestDownHostOncePerRun(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.47")
	m := newRemoteMTA(t, f, n, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, submit(t, m, "a", []string{fmt.Sprintf("r%d@other.test", i)}, "Subject: x\n\n", false))
	}
	if _, err := m.RunQueue(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := n.dials["127.0.0.47"]; got != 1 {
		t.Errorf("%d connections to the down host in one run, want 1", got)
	}
	for _, id := range ids {
		if env := f.readQF(t, id); env.Message != "Deferred: Connection refused by mx.other.test." || env.Attempts != 1 {
			t.Errorf("%s: N%d M%q", id, env.Attempts, env.Message)
		}
	}
}

func TestNotifyFlags(t *testing.T) {
	for in, want := range map[string]string{"": "PFD", "NEVER": "PN", "SUCCESS,FAILURE": "PNSF", "delay,success": "PNSD", "FAILURE,DELAY": "PNFD"} {
		if got := notifyFlags(in); got != want {
			t.Errorf("notifyFlags(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNotifyNever: a recipient with NOTIFY=NEVER fails without a bounce.
func TestNotifyNever(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	n.sinkOn(t, "127.0.0.41")
	m := newRemoteMTA(t, f, n, nil)
	id := submit(t, m, "a", []string{"bad@other.test"}, "Subject: x\n\n", false)
	l, err := m.Queue().Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	env := *l.Envelope()
	env.Recipients = []queue.Recipient{env.Recipients[0]}
	env.Recipients[0].Flags = notifyFlags("NEVER")
	if err := l.Update(&env); err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if err := m.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	logHas(t, f, regexp.QuoteMeta(id+": to=bad@other.test, ")+`.*stat=User unknown\n`)
	if _, err := os.Stat(filepath.Join(f.spool, "a")); err == nil || strings.Contains(f.log.String(), "DSN:") {
		t.Errorf("a bounce for NOTIFY=NEVER:\n%s", f.log.String())
	}
	if q := f.queueFiles(t); len(q) != 0 {
		t.Errorf("queue: %v", q)
	}
}

// TestCtlAddr: a command-line submission by root with -f and a sender
// that is not local is logged with root's ids, as the real sendmail
// logged "ctladdr=sender@sender.example (0/0)".
func TestCtlAddr(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.41")
	n.sinkOn(t, "127.0.0.41")
	m := newRemoteMTA(t, f, n, nil)
	id, err := m.Submit(context.Background(), Submission{Sender: "sender@sender.example", ExplicitSender: true, LocalUser: "root",
		Recipients: []string{"x@other.test"}, IgnoreDots: true}, strings.NewReader("Subject: c\n\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	logHas(t, f, regexp.QuoteMeta(id+": to=x@other.test, ctladdr=sender@sender.example (0/0), delay="))
}

// authSink is a smart host that takes only authenticated mail.
type authSink struct {
	mu    sync.Mutex
	users []string // who logged in, per accepted message
}

func (s *authSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &authSession{s: s}, nil }

type authSession struct {
	s    *authSink
	user string
}

func (a *authSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }
func (a *authSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "relayuser" || pass != "s3cret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
		}
		a.user = user
		return nil
	}), nil
}
func (a *authSession) Mail(string, *smtp.MailOptions) error {
	if a.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	return nil
}
func (a *authSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (a *authSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	a.s.mu.Lock()
	a.s.users = append(a.s.users, a.user)
	a.s.mu.Unlock()
	return nil
}
func (a *authSession) Reset()        {}
func (a *authSession) Logout() error { return nil }

// TestSmartHostAuth: with FEATURE(authinfo), the relay logs in to the
// smart host with the credentials of its "AuthInfo:" entry (and logs
// AUTH=client); a wrong password is refused by the far side and the
// message waits.
func TestSmartHostAuth(t *testing.T) {
	dir := t.TempDir()
	ai := filepath.Join(dir, "authinfo")
	var out, errb bytes.Buffer
	src := "AuthInfo:127.0.0.48 \"U:relayuser\" \"P:s3cret\" \"M:PLAIN\"\n"
	if code := makemap.Main([]string{"makemap", "hash", ai}, strings.NewReader(src), &out, &errb); code != 0 {
		t.Fatalf("makemap: %d %s", code, errb.String())
	}
	f := newFixture(t, map[string]string{"SMART": "relay:[127.0.0.48]", "AUTHINFO": ai})
	n := newTestNet(t)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.48", strconv.Itoa(n.port)))
	if err != nil {
		t.Fatal(err)
	}
	sk := &authSink{}
	srv := smtp.NewServer(sk)
	srv.Domain = "smart.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close(); srv.Close() })
	m := newRemoteMTA(t, f, n, nil)
	id := submit(t, m, "a", []string{"far@outside.example"}, "Subject: auth\n\nhi\n", true)
	sk.mu.Lock()
	users := append([]string(nil), sk.users...)
	sk.mu.Unlock()
	if !cmp.Equal(users, []string{"relayuser"}) {
		t.Errorf("smart host got messages from %q\n%s", users, f.log.String())
	}
	logHas(t, f, `: AUTH=client, relay=\[127\.0\.0\.48\], mech=PLAIN, bits=0\n`)
	logHas(t, f, regexp.QuoteMeta(id+": to=far@outside.example, ")+`.*mailer=relay, .*stat=Sent`)

	// A wrong password: no login, the server's 530 bounces the message.
	if code := makemap.Main([]string{"makemap", "hash", ai}, strings.NewReader("AuthInfo: \"U:relayuser\" \"P:wrong\"\n"), &out, &errb); code != 0 {
		t.Fatalf("makemap: %d %s", code, errb.String())
	}
	m2 := newRemoteMTA(t, f, n, nil)
	id2 := submit(t, m2, "a", []string{"far@outside.example"}, "Subject: auth 2\n\nhi\n", true)
	logHas(t, f, regexp.QuoteMeta(id2+": to=far@outside.example, ")+`.*reply=530 5\.7\.0 Authentication required, stat=`)
}

// TestConnectionCacheInRun: a queue run carries its messages for one
// host over one connection (ConnectionCacheSize is 2 in the stock cf),
// and that connection is QUIT as soon as no delivery is under way, as
// the end of a sendmail queue run closes its cache: an idle daemon holds
// no session open on the far side.
func TestConnectionCacheInRun(t *testing.T) {
	f := newFixture(t, map[string]string{"SMART": "relay:[127.0.0.42]"})
	n := newTestNet(t)
	smart, _ := n.sinkOn(t, "127.0.0.42")
	m := newRemoteMTA(t, f, n, nil)
	m.maxChildren = 1 // one message after the other, so each finds the connection idle
	for i := 0; i < 3; i++ {
		submit(t, m, "a", []string{fmt.Sprintf("x%d@other.test", i)}, "Subject: cached\n\nhi\n", false)
	}
	if _, err := m.RunQueue(context.Background(), RunOptions{IgnoreMinAge: true}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	dials := n.dials["127.0.0.42"]
	n.mu.Unlock()
	if got := len(smart.got()); got != 3 || dials != 1 {
		t.Errorf("%d messages over %d connections, want 3 over 1", got, dials)
	}
	if idle := m.conns.Idle(); idle != 0 {
		t.Errorf("%d connections left open after the run", idle)
	}
}

// TestVerboseStatus: sendmail -v gives the recipients of one SMTP
// delivery one status line ("a,b... Sent (...)", as the real one printed
// "other@outside.example,friend@outside.example... Sent (2.0.0 Ok:
// queued)"), and a recipient refused at its RCPT, or delivered locally,
// a line of its own.
func TestVerboseStatus(t *testing.T) {
	sent := deliver.StatusFor(deliver.ExOK, "")
	sent.Stat = "Sent (Ok)"
	refused := deliver.StatusFor(deliver.ExNoUser, "")
	refused.Stat = "User unknown"
	down := deliver.StatusFor(deliver.ExTempFail, "")
	down.Stat = "Deferred: Connection refused by [127.0.0.9]"
	r1 := &remote.Result{Relay: "[127.0.0.9] [127.0.0.9]", Reply: "250 Ok"}
	r2 := &remote.Result{Relay: "[127.0.0.8] [127.0.0.8]", Reply: "250 Ok"}
	bad := &remote.Result{Relay: "[127.0.0.9] [127.0.0.9]", Reply: "550 5.1.1 no"}
	conn := &remote.Result{Relay: "[127.0.0.9] [127.0.0.9]"}
	var b strings.Builder
	verboseStatus(&b, []outcome{
		{addr: "a@x", st: sent, res: r1}, {addr: "b@x", st: sent, res: r1},
		{addr: "c@y", st: sent, res: r2},
		{addr: "d@x", st: refused, res: bad}, {addr: "e@x", st: refused, res: bad},
		{addr: "f@z", st: down, res: conn}, {addr: "g@z", st: down, res: conn},
		{addr: "h", st: sent}, {addr: "i", st: sent},
	})
	want := "a@x,b@x... Sent (Ok)\nc@y... Sent (Ok)\nd@x... User unknown\ne@x... User unknown\n" +
		"f@z,g@z... Deferred: Connection refused by [127.0.0.9]\nh... Sent (Ok)\ni... Sent (Ok)\n"
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
