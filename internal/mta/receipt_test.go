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

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/aliases"
	"mailsuite/internal/deliver"
	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
	"mailsuite/pkg/cf"
)

// The /file deliveries re-execute this test binary as their helper, as
// sendmaild re-executes itself (cmd/sendmaild/filehelper.go).
func init() {
	if len(os.Args) > 1 && os.Args[1] == deliver.FileHelperArg {
		os.Exit(deliver.RunFileHelper(os.Args[2:], os.Stdin))
	}
}

// paramSink is a loopback SMTP server that records the DSN parameters
// of each transaction, offering the DSN extension or not.
type paramSink struct {
	mu   sync.Mutex
	msgs []string // "MAIL From:<a> RET=… ENVID=…\nRCPT To:<b NOTIFY=… ORCPT=…>\n"
}

func (s *paramSink) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &paramSession{s: s}, nil
}

func (s *paramSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

type paramSession struct {
	s   *paramSink
	cur strings.Builder
}

func (ps *paramSession) Mail(from string, o *smtp.MailOptions) error {
	ps.cur.Reset()
	fmt.Fprintf(&ps.cur, "MAIL From:<%s> RET=%s ENVID=%s\n", from, o.Return, o.EnvelopeID)
	return nil
}

func (ps *paramSession) Rcpt(to string, o *smtp.RcptOptions) error {
	r := to
	var n []string
	for _, v := range o.Notify {
		n = append(n, string(v))
	}
	if len(n) > 0 {
		r += " NOTIFY=" + strings.Join(n, ",")
	}
	if o.OriginalRecipient != "" {
		r += " ORCPT=" + string(o.OriginalRecipientType) + ";" + o.OriginalRecipient
	}
	fmt.Fprintf(&ps.cur, "RCPT To:<%s>\n", r)
	return nil
}

func (ps *paramSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	ps.s.mu.Lock()
	ps.s.msgs = append(ps.s.msgs, ps.cur.String())
	ps.s.mu.Unlock()
	return nil
}

func (ps *paramSession) Reset()        {}
func (ps *paramSession) Logout() error { return nil }

func (n *testNet) paramSinkOn(t *testing.T, ip string, dsn bool) *paramSink {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(n.port)))
	if err != nil {
		t.Fatal(err)
	}
	s := &paramSink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink." + ip
	srv.EnableDSN = dsn
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close(); srv.Close() })
	return s
}

// smtpSend runs one SMTP transaction and returns the queue id of the
// 250 reply.
func smtpSend(t *testing.T, addr, mail string, rcpts []string, body string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewConn(c)
	expect := func(code int, line string) string {
		t.Helper()
		if line != "" {
			tp.PrintfLine("%s", line)
		}
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return msg
	}
	expect(220, "")
	expect(250, "EHLO client.example")
	expect(250, "MAIL From:"+mail)
	for _, r := range rcpts {
		expect(250, "RCPT To:"+r)
	}
	expect(354, "DATA")
	w := tp.DotWriter()
	io.WriteString(w, body)
	w.Close()
	msg := expect(250, "")
	expect(221, "QUIT")
	f := strings.Fields(msg)
	if len(f) < 2 {
		t.Fatalf("250 reply %q", msg)
	}
	return f[1]
}

// realQF returns the lines the real sendmail queued the receipt
// scenario's message for rcpt with (internal/dsn's vector), the sender
// replaced by ours.
func realQF(t *testing.T, rcpt string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dsn", "testdata", "real-receipt-qf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(b), ".\n") {
		if strings.Contains(block, "R") && strings.Contains(block, ":<"+rcpt+">\n") {
			return strings.Split(strings.TrimSuffix(block, "\n"), "\n")
		}
	}
	t.Fatalf("no qf vector for %s", rcpt)
	return nil
}

// qfLines are the F, Z, Q, r and R lines of our qf, as realQF has them;
// sendmail's own F flags also carry s, which is no DSN matter.
func qfLines(t *testing.T, f *fixture, id string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.work, "mqueue", "qf"+id))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && strings.IndexByte("FZQrR", l[0]) >= 0 {
			out = append(out, l)
		}
	}
	return out
}

// TestDSNParameters: RET= and ENVID= given on MAIL, and NOTIFY= and
// ORCPT= on RCPT, are queued as the real sendmail queued the same
// transaction (F flags, Z and Q kept as xtext), survive a queue run, and
// reach a DSN-capable server with the parameters the real sendmail gave
// it; that server answers for the receipt, so none is sent.
func TestDSNParameters(t *testing.T) {
	port := freePort(t)
	f := newFixture(t, map[string]string{"PORT": fmt.Sprint(port)})
	n := newTestNet(t)
	n.dns.AddMX("dsn.example", "mx.dsn.example", 10)
	n.dns.AddA("mx.dsn.example", "127.0.0.43")
	addr, m := startDaemon(t, f, n)

	id := smtpSend(t, addr, "<sender@sender.example> RET=HDRS ENVID=env+2Bdsn",
		[]string{"<friend@dsn.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;friend+2Bo@dsn.example"}, "Subject: test dsn\r\n\r\nHello.\r\n")
	m.Wait()
	// The server is down: deferred, and queued as sendmail queued it.
	want := realQF(t, "friend@dsn.example")
	got := qfLines(t, f, id)
	if len(got) > 0 && len(want) > 0 && strings.HasPrefix(got[0], "F") {
		want[0] = strings.ReplaceAll(want[0], "s", "")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("qf lines (-sendmail +ours):\n%s", d)
	}

	sink := n.paramSinkOn(t, "127.0.0.43", true)
	if _, err := m.RunQueue(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	params, err := os.ReadFile(filepath.Join("..", "dsn", "testdata", "real-receipt-relay-params.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{string(params)}, sink.got()); d != "" {
		t.Errorf("parameters the DSN server got (-sendmail +ours):\n%s\nlog:\n%s", d, f.log.String())
	}
	if _, err := os.Stat(filepath.Join(f.spool, "sender")); err == nil || strings.Contains(f.log.String(), "DSN:") {
		t.Errorf("a notification for a recipient relayed to a DSN server:\n%s", f.log.String())
	}
}

// startDaemon loads f's cf with the test's network, serves SMTP on the
// cf's port as mail.hamap.local and returns the address and the MTA.
func startDaemon(t *testing.T, f *fixture, n *testNet) (string, *MTA) {
	return startDaemonAs(t, f, n, "mail.hamap.local")
}

// startDaemonAs is startDaemon with host as $j.
func startDaemonAs(t *testing.T, f *fixture, n *testNet, host string) (string, *MTA) {
	t.Helper()
	m, cfg, _, closer, err := Load(f.cf, LoadOptions{Log: f.logger, Resolver: n.dns.Resolver(), Dial: n.dial, Hostname: host, SpoolDir: f.spool, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
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
		m.Close()
		closer()
	})
	return lns[0].Addr().String(), m
}

// TestReturnReceipts: NOTIFY=SUCCESS on a recipient delivered here (a
// mailbox, a |program alias, a /file alias) or relayed to a server
// without DSN brings the sender a "Return receipt" shaped like the real
// sendmail's for the same delivery (internal/dsn's vectors); a bounce
// lists a delivered NOTIFY=SUCCESS recipient beside the failed one; a
// receipt goes at once even while another recipient is deferred.
func TestReturnReceipts(t *testing.T) {
	port := freePort(t)
	f := newFixture(t, map[string]string{"PORT": fmt.Sprint(port)})
	n := newTestNet(t)
	n.dns.AddMX("plain.example", "mx.plain.example", 10)
	n.dns.AddA("mx.plain.example", "127.0.0.44")
	plain := n.paramSinkOn(t, "127.0.0.44", false)

	// The aliases of the real sendmail's run, and a file anyone may
	// write (the writer runs with the alias's controlling user's ids).
	files := filepath.Join(f.work, "files")
	for _, d := range []string{filepath.Dir(f.work), f.work} {
		os.Chmod(d, 0o755)
	}
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(files, "file.out")
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o666)
	// The file is written by this test binary re-executed with other
	// ids, which must reach it: open go test's build directories to
	// them for the test's time.
	if exe, err := os.Executable(); err == nil {
		for d := filepath.Dir(exe); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				mode := fi.Mode().Perm()
				os.Chmod(d, mode|0o011)
				t.Cleanup(func() { os.Chmod(d, mode) })
			}
		}
	}
	al := filepath.Join(f.work, "aliases")
	if err := os.WriteFile(al, []byte("postmaster: b\nbroken: \"|/bin/false\"\nprog: \"|/bin/cat >/dev/null\"\n"+
		"filer: "+out+"\nlater: \"|/bin/sh -c 'exit 75'\"\nteam: b, root\nsingle: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var null bytes.Buffer
	if code := aliases.Newaliases([]string{al}, &null, &null, nil, "root"); code != 0 {
		t.Fatalf("newaliases: %d: %s", code, null.String())
	}
	addr, m := startDaemon(t, f, n)

	for _, tc := range []struct {
		name, mail string
		rcpts      []string
		vector     string
		has        []string // texts the notification must contain
	}{
		{"mailbox", "<a@hamap.local> RET=HDRS ENVID=env+2Blocal", []string{"<b@hamap.local> NOTIFY=SUCCESS ORCPT=rfc822;b+2Bo@hamap.local"},
			"real-receipt-local.eml", []string{"\nTo: <a@hamap.local>\n", "\nSubject: Return receipt\n", "\nAuto-Submitted: auto-generated (return-receipt)\n",
				"\n   ----- The following addresses had successful delivery notifications -----\n<b@hamap.local>  (successfully delivered to mailbox)\n\n" +
					"   ----- Transcript of session follows -----\n<b@hamap.local>... Successfully delivered\n",
				"\nOriginal-Envelope-Id: env+local\n", "\nOriginal-Recipient: rfc822;b+o@hamap.local\nFinal-Recipient: RFC822; b@hamap.local\n" +
					"X-Actual-Recipient: rfc822; b@hamap.local\nAction: delivered (to mailbox)\nStatus: 2.1.5\nLast-Attempt-Date: ",
				"\nContent-Type: text/rfc822-headers\n\nReturn-Path: <a@hamap.local>\n"}},
		{"program", "<a@hamap.local> ENVID=env-prog", []string{"<prog@hamap.local> NOTIFY=SUCCESS"},
			"real-receipt-prog.eml", []string{"\n\"|/bin/cat >/dev/null\"  (successfully delivered to mailbox)\n    (expanded from: <prog@hamap.local>)\n",
				"\n\"|/bin/cat >/dev/null\"... Successfully delivered\n", "\nX-Actual-Recipient: X-Unix; |/bin/cat >/dev/null\nAction: delivered (to mailbox)\nStatus: 2.1.5\n"}},
		{"file", "<a@hamap.local> RET=FULL", []string{"<filer@hamap.local> NOTIFY=SUCCESS,FAILURE"},
			"real-receipt-file.eml", []string{"\n" + out + "  (successfully delivered to mailbox)\n    (expanded from: <filer@hamap.local>)\n",
				"\nX-Actual-Recipient: X-Unix; " + out + "\n", "\nContent-Type: text/rfc822-headers\n"}},
		{"relayed without DSN", "<a@hamap.local> RET=FULL ENVID=env-plain", []string{"<friend@plain.example> NOTIFY=SUCCESS"},
			"real-receipt-plain.eml", []string{"\n<friend@plain.example>  (relayed to non-DSN-aware mailer)\n",
				"\n<friend@plain.example>... relayed; expect no further notifications\n",
				"\nAction: relayed (to non-DSN-aware mailer)\nStatus: 2.0.0\nRemote-MTA: DNS; mx.plain.example\n" +
					"Diagnostic-Code: SMTP; 250 2.0.0 I'll make sure <friend@plain.example> gets this\n"}},
		{"bounce lists the delivered", "<a@hamap.local>", []string{"<b@hamap.local> NOTIFY=SUCCESS", "<broken@hamap.local>"},
			"real-receipt-mixfail.eml", []string{"\nSubject: Returned mail: see transcript for details\n",
				"\n   ----- The following addresses had successful delivery notifications -----\n<b@hamap.local>  (successfully delivered to mailbox)\n\n" +
					"   ----- Transcript of session follows -----\n<b@hamap.local>... Successfully delivered\n554 5.3.0 unknown mailer error 1\n"}},
		{"alias of one", "<a@hamap.local>", []string{"<single@hamap.local> NOTIFY=SUCCESS"},
			"real-receipt-single.eml", []string{"\nb  (successfully delivered to mailbox)\n    (expanded from: <single@hamap.local>)\n",
				"\nb... Successfully delivered\n", "\nFinal-Recipient: RFC822; single@hamap.local\nX-Actual-Recipient: rfc822; b@mail.hamap.local\n"}},
		{"alias of two", "<a@hamap.local>", []string{"<team@hamap.local> NOTIFY=SUCCESS"},
			"real-receipt-expand.eml", []string{"\n   ----- Transcript of session follows -----\n<team@hamap.local>... expanded to multiple addresses\n" +
				"b... Successfully delivered\nroot... Successfully delivered\n\n"}},
		{"receipt while deferred", "<a@hamap.local>", []string{"<b@hamap.local> NOTIFY=SUCCESS", "<later@hamap.local> NOTIFY=SUCCESS"},
			"real-receipt-mixdefer.eml", []string{"\n<b@hamap.local>... Successfully delivered\n\"|/bin/sh -c 'exit 75'\"... Deferred: prog mailer (/bin/sh) exited with EX_TEMPFAIL\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(f.spool, "a"))
			id := smtpSend(t, addr, tc.mail, tc.rcpts, "Subject: test "+tc.name+"\r\n\r\nHello.\r\n")
			m.Wait()
			mbox, err := os.ReadFile(filepath.Join(f.spool, "a"))
			if err != nil {
				t.Fatalf("no notification: %v\nlog:\n%s", err, f.log.String())
			}
			note := mboxMessage(t, string(mbox), 0)
			for _, s := range tc.has {
				if !strings.Contains(note, s) {
					t.Errorf("notification lacks %q:\n%s", s, note)
				}
			}
			want := append([]string{"Return-Path:"}, vectorShape(t, tc.vector)...)
			var shape []string
			for _, l := range dsnShape(note) {
				// The daemon's own delivery still knows the client,
				// as sendmail's SMTP child does; the vectors come from
				// a queue run, which does not.
				if l != "Received-From-MTA:" {
					shape = append(shape, l)
				}
			}
			if d := cmp.Diff(want, shape); d != "" {
				t.Errorf("structure (-sendmail +ours):\n%s\n%s", d, note)
			}
			if tc.vector != "real-receipt-mixfail.eml" {
				logHas(t, f, regexp.QuoteMeta(id+": ")+`\w{14}: DSN: Return receipt\n`)
			}
		})
	}
	if got := plain.got(); len(got) != 1 || got[0] != "MAIL From:<a@hamap.local> RET= ENVID=\nRCPT To:<friend@plain.example>\n" {
		t.Errorf("the server without DSN got %q", got)
	}
}

// TestSubmitDSNFlags: sendmail -R hdrs -V envid -N success on the command
// line queues the same F and Z lines as RET=/ENVID= over SMTP, and the
// local delivery brings a receipt with the envelope id.
func TestSubmitDSNFlags(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	m := newRemoteMTA(t, f, n, nil)
	id, err := m.Submit(context.Background(), Submission{Sender: "a", LocalUser: "a", ExplicitSender: true, Recipients: []string{"b"},
		IgnoreDots: true, Ret: "hdrs", EnvID: "cmd+2Bid", Notify: "success"}, strings.NewReader("Subject: cmd\n\nhi\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	env := f.readQF(t, id)
	if env.Flags != "dn" || env.EnvID != "cmd+2Bid" || len(env.Recipients) != 1 || env.Recipients[0].Flags != "PNS" {
		t.Errorf("qf: F%q Z%q R%+v", env.Flags, env.EnvID, env.Recipients)
	}
	if err := m.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	note := mboxMessage(t, f.mbox(t, "a"), 0)
	for _, s := range []string{"\nTo: a\n", "\nSubject: Return receipt\n", "\nOriginal-Envelope-Id: cmd+id\n", "\nb... Successfully delivered\n"} {
		if !strings.Contains(note, s) {
			t.Errorf("receipt lacks %q:\n%s", s, note)
		}
	}
}

// TestWantsReceipt: who gets a return receipt for a delivered recipient.
func TestWantsReceipt(t *testing.T) {
	sent := deliver.StatusFor(deliver.ExOK, "")
	local := func(flags string) outcome { return outcome{rcpt: queue.Recipient{Flags: flags}, st: sent} }
	remoteTo := func(flags string, dsn bool) outcome {
		oc := local(flags)
		oc.res = &remote.Result{OfferedDSN: dsn}
		return oc
	}
	env := &queue.Envelope{Sender: "<a@b>"}
	for _, tc := range []struct {
		name    string
		privacy []string
		env     *queue.Envelope
		oc      outcome
		want    bool
	}{
		{"NOTIFY=SUCCESS, local", nil, env, local("PNS"), true},
		{"alias target", nil, env, local("NSA"), true},
		{"no NOTIFY", nil, env, local("PFD"), false},
		{"NOTIFY=FAILURE", nil, env, local("PNF"), false},
		{"relay without DSN", nil, env, remoteTo("PNS", false), true},
		{"relay with DSN", nil, env, remoteTo("PNS", true), false},
		{"null sender", nil, &queue.Envelope{Sender: "<>"}, local("PNS"), false},
		{"noreceipts", []string{"authwarnings", "noreceipts"}, env, local("PNS"), false},
		{"goaway", []string{"goaway"}, env, local("PNS"), false},
	} {
		m := &MTA{cf: &cf.Config{}}
		m.cf.PrivacyOptions = tc.privacy
		if got := m.wantsReceipt(tc.env, tc.oc); got != tc.want {
			t.Errorf("%s: wantsReceipt = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := childFlags("PNSD"); got != "NSDA" {
		t.Errorf("childFlags(PNSD) = %q", got)
	}
	for in, want := range map[string]string{"": "w", "dn": "wdn", "8d": "w8d", "w": "w", "8dnX": "w8dnX"} {
		if got := withFlag(in, 'w'); got != want {
			t.Errorf("withFlag(%q, w) = %q, want %q", in, got, want)
		}
	}
	if got := childFlags("PFD"); got != "FDA" {
		t.Errorf("childFlags(PFD) = %q", got)
	}
}

// TestRetHdrsEnvID: a bounce and a delay warning of a message sent with
// RET=HDRS and an ENVID (here from -R hdrs -V) carry the envelope id
// decoded and only the original's header, as the real sendmail's
// bounce-hdrs and bounce vectors do.
func TestRetHdrsEnvID(t *testing.T) {
	f := newFixture(t, nil)
	n := newTestNet(t)
	n.dns.AddMX("other.test", "mx.other.test", 10)
	n.dns.AddA("mx.other.test", "127.0.0.45")
	clk := &clock{t: time.Now()}
	m := newRemoteMTA(t, f, n, clk)
	ctx := context.Background()
	sub := Submission{Sender: "a", LocalUser: "a", ExplicitSender: true, Recipients: []string{"bad@other.test"},
		IgnoreDots: true, Ret: "HDRS", EnvID: "id+2Bbounce"}
	// The far side is down: a delay warning at Timeout.queuewarn.
	if _, err := m.Submit(ctx, sub, strings.NewReader("Subject: hdrs\n\nthe body\n"), true); err != nil {
		t.Fatal(err)
	}
	clk.add(4*time.Hour + time.Minute)
	m.RunQueue(ctx, RunOptions{})
	// Then it answers 550: the bounce.
	n.sinkOn(t, "127.0.0.45")
	m.RunQueue(ctx, RunOptions{})
	mbox := f.mbox(t, "a")
	for i, kind := range []string{"Warning: could not send message for past 4 hours", "Returned mail: see transcript for details"} {
		note := mboxMessage(t, mbox, i)
		for _, s := range []string{"\nSubject: " + kind + "\n", "\nOriginal-Envelope-Id: id+bounce\n",
			"\nContent-Type: text/rfc822-headers\n\nReturn-Path: <a@mail.hamap.local>\n"} {
			if !strings.Contains(note, s) {
				t.Errorf("%s lacks %q:\n%s", kind, s, note)
			}
		}
		if strings.Contains(note, "the body") {
			t.Errorf("%s returns the body:\n%s", kind, note)
		}
	}
	want := append([]string{"Return-Path:"}, vectorShape(t, "real-bounce-hdrs.eml")...)
	if d := cmp.Diff(want, dsnShape(mboxMessage(t, mbox, 1))); d != "" {
		t.Errorf("bounce structure (-sendmail +ours):\n%s", d)
	}
}
