// SPDX-License-Identifier: MIT

package mta

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/aliases"
	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
	"mailsuite/internal/testutil"
)

// syncBuffer is a log destination the tests read while deliveries run.
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

// fixture is a work directory with a cf compiled from testdata/mta.mc,
// users a (1023) and b (1024), a spool and an alias file.
type fixture struct {
	work, cf, spool string
	log             *syncBuffer
	logger          *maillog.Logger
}

func newFixture(t *testing.T, defines map[string]string) *fixture {
	t.Helper()
	testutil.RequireRoot(t, "mailboxes are created owned by the test users")
	f := &fixture{work: t.TempDir(), log: &syncBuffer{}}
	f.cf = filepath.Join(f.work, "sendmail.cf")
	f.spool = filepath.Join(f.work, "spool")
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(f.work, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(f.work, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("passwd", "root:x:0:0:root:/root:/bin/sh\na:x:1023:1023::/nonexistent:/bin/sh\nb:x:1024:1024::/nonexistent:/bin/sh\nc:x:1025:1025::"+filepath.Join(f.work, "home")+":/bin/sh\n")
	write("home/.forward", "b\n")
	write("shadow", "")
	write("local-host-names", "hamap.local\nmail.hamap.local\n")
	write("relay-domains", "")
	write("aliases", "postmaster: b\nteam: a, b\nfar: friend@outside.example\nbroken: \"|/bin/false\"\n")
	for _, d := range []string{"mqueue", "spool"} {
		if err := os.Mkdir(filepath.Join(f.work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("MAILSUITE_PASSWD", filepath.Join(f.work, "passwd"))
	t.Setenv("MAILSUITE_SHADOW", filepath.Join(f.work, "shadow"))
	defs := map[string]string{"WORKDIR": f.work, "_NO_MAKEINFO_": ""}
	for k, v := range defines {
		defs[k] = v
	}
	// GNU m4 and sendmail-cf make the cf: pkg/mc writes no rulesets,
	// and internal/smtpd reads the FEATUREs from them.
	m4 := testutil.Oracle(t, "m4", "m4")
	args := []string{}
	for k, v := range defs {
		args = append(args, "-D"+k+"="+v)
	}
	out, err := exec.Command(m4, append(args, "testdata/mta.mc")...).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	write("sendmail.cf", string(out))
	var null bytes.Buffer
	if code := aliases.Newaliases([]string{filepath.Join(f.work, "aliases")}, &null, &null, nil, "root"); code != 0 {
		t.Fatalf("newaliases: %d: %s", code, null.String())
	}
	f.logger = maillog.New(f.log, maillog.Options{Ident: "sendmail"})
	return f
}

// loopbackResolver keeps every DNS query on this machine (a closed
// loopback port): nothing reaches the configured nameserver.
func loopbackResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", "127.0.0.1:9")
	}}
}

func (f *fixture) load(t *testing.T) (*MTA, smtpd.Config) {
	t.Helper()
	m, cfg, _, closer, err := Load(f.cf, LoadOptions{Log: f.logger, Resolver: loopbackResolver(), Hostname: "mail.hamap.local", SpoolDir: f.spool, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); closer() })
	return m, cfg
}

func (f *fixture) mbox(t *testing.T, user string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.spool, user))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) queueFiles(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(f.work, "mqueue"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

var (
	maskFrom = regexp.MustCompile(`(?m)^From (\S+)  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$`)
	maskQID  = regexp.MustCompile(`\bid [0-9A-Za-z]{8}\d{6}\b`)
	maskDate = regexp.MustCompile(`(?m)^(\t|\t.*; )\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d (GMT|[+-]\d{4})$`)
)

// mask replaces the queue ids and the delivery dates.
func mask(s string) string {
	s = maskFrom.ReplaceAllString(s, "From $1  <date>")
	s = maskQID.ReplaceAllString(s, "id <QID>")
	return maskDate.ReplaceAllString(s, "$1<date>")
}

func readVector(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// smtpSession sends one message from 127.0.0.20 and returns the replies.
func smtpSession(t *testing.T, addr, from, rcpt, data string) []string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.20")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	var out []string
	read := func() {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				out = append(out, "<"+err.Error()+">")
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if len(l) < 4 || l[3] != '-' {
				out = append(out, l)
				return
			}
		}
	}
	read()
	var stuffed strings.Builder
	for _, l := range strings.SplitAfter(data, "\n") {
		if strings.HasPrefix(l, ".") {
			stuffed.WriteByte('.')
		}
		stuffed.WriteString(l)
	}
	for _, cmd := range []string{"EHLO [127.0.0.20]", "MAIL FROM:<" + from + ">", "RCPT TO:<" + rcpt + ">", "DATA", stuffed.String() + ".", "QUIT"} {
		io.WriteString(c, cmd+"\r\n")
		read()
	}
	return out
}

// TestSMTPDelivery runs the SMTP server on the MTA's spool: a → b over
// SMTP lands in b's mbox as the anchor's /var/mail/b (§5.3), the to= line
// is logged, and the queue is empty afterwards. DeliveryMode decides
// when: interactive before the 250, background after it, queueonly not
// at all.
func TestSMTPDelivery(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		queued bool
	}{
		{"background", false},
		{"interactive", false},
		{"queueonly", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			port := freePort(t)
			f := newFixture(t, map[string]string{"PORT": fmt.Sprint(port), "MODE": tc.mode})
			m, cfg := f.load(t)
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
			out := smtpSession(t, lns[0].Addr().String(), "a@hamap.local", "b@hamap.local", readVector(t, "anchor-smtp.in"))
			if !strings.HasPrefix(out[5], "250 2.0.0 ") || !strings.HasSuffix(out[5], " Message accepted for delivery") {
				t.Fatalf("replies: %q", out)
			}
			if tc.mode == "interactive" {
				if _, err := os.Stat(filepath.Join(f.spool, "b")); err != nil {
					t.Errorf("not delivered before the 250: %v", err)
				}
			}
			m.Wait()
			if tc.queued {
				if q := f.queueFiles(t); len(q) != 2 {
					t.Errorf("queue: %v, want a qf and a df", q)
				}
				if _, err := os.Stat(filepath.Join(f.spool, "b")); err == nil {
					t.Errorf("delivered in queueonly mode")
				}
				// The queue run (sendmail -q) delivers it.
				if _, err := m.RunQueue(context.Background(), RunOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(mask(readVector(t, "anchor-smtp.want")), mask(f.mbox(t, "b"))); diff != "" {
				t.Errorf("mbox of b (-want +got):\n%s", diff)
			}
			if q := f.queueFiles(t); len(q) != 0 {
				t.Errorf("queue after delivery: %v", q)
			}
			toLine := regexp.MustCompile(`: to=<b@hamap\.local>, ctladdr=<a@hamap\.local> \(1023/1023\), delay=\d\d:\d\d:\d\d, xdelay=\d\d:\d\d:\d\d, mailer=local, pri=\d+, dsn=2\.0\.0, stat=Sent\n`)
			if !toLine.MatchString(f.log.String()) || strings.Contains(f.log.String(), "SYSERR") {
				t.Errorf("no to= line, or a SYSERR, in the log:\n%s", f.log.String())
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSubmit covers command-line submissions: sendmail -t -i as root
// (the anchor's second message), alias expansion, and a recipient that
// is not local, which stays queued and is listed by mailq.
func TestSubmit(t *testing.T) {
	f := newFixture(t, nil)
	m, _ := f.load(t)
	ctx := context.Background()
	root := Submission{Sender: "root", LocalUser: "root", IgnoreDots: true}

	t.Run("t-i", func(t *testing.T) {
		sub := root
		sub.HeaderRecipients = true
		if _, err := m.Submit(ctx, sub, strings.NewReader(readVector(t, "anchor-cmdline.in")), true); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(mask(readVector(t, "anchor-cmdline.want")), mask(f.mbox(t, "b"))); diff != "" {
			t.Errorf("mbox of b (-want +got):\n%s", diff)
		}
		if q := f.queueFiles(t); len(q) != 0 {
			t.Errorf("queue after delivery: %v", q)
		}
	})

	t.Run("alias", func(t *testing.T) {
		os.Remove(filepath.Join(f.spool, "a"))
		os.Remove(filepath.Join(f.spool, "b"))
		sub := root
		sub.Recipients = []string{"team"}
		if _, err := m.Submit(ctx, sub, strings.NewReader("Subject: team\n\nhi\n"), true); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"a", "b"} {
			if got := f.mbox(t, u); !strings.Contains(got, "Subject: team\n") || strings.Count(got, "\nFrom ") != 0 || !strings.HasPrefix(got, "From root  ") {
				t.Errorf("mbox of %s:\n%s", u, got)
			}
		}
		if q := f.queueFiles(t); len(q) != 0 {
			t.Errorf("queue after delivery: %v", q)
		}
	})

	t.Run("forward", func(t *testing.T) {
		sub := root
		sub.Recipients = []string{"c@hamap.local"}
		if _, err := m.Submit(ctx, sub, strings.NewReader("Subject: forwarded\n\nhi\n"), true); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.mbox(t, "b"), "Subject: forwarded\n") {
			t.Errorf("~c/.forward not followed:\n%s", f.mbox(t, "b"))
		}
		if _, err := os.Stat(filepath.Join(f.spool, "c")); err == nil {
			t.Errorf("c's own mailbox written")
		}
	})

	t.Run("remote-held", func(t *testing.T) {
		sub := root
		sub.Recipients = []string{"friend@outside.example", "b"}
		id, err := m.Submit(ctx, sub, strings.NewReader("Subject: far\n\nhi\n"), true)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.mbox(t, "b"), "Subject: far\n") {
			t.Errorf("b did not get the message")
		}
		var list bytes.Buffer
		n, err := queue.List(&list, m.Queue().Dir(), queue.ListOptions{})
		if err != nil || n != 1 {
			t.Fatalf("mailq: %d requests, %v:\n%s", n, err, list.String())
		}
		if !strings.Contains(list.String(), id) || !strings.Contains(list.String(), "friend@outside.example") || strings.Contains(list.String(), " b\n") {
			t.Errorf("mailq:\n%s", list.String())
		}
		// A queue run leaves it alone: no local recipient is left.
		if err := m.Deliver(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(f.mbox(t, "b"), "Subject: far\n"); got != 1 {
			t.Errorf("b got the message %d times", got)
		}
	})
}

// TestRecover queues a message without delivering it (a crash after the
// 250) and checks that the queue run of a new MTA delivers it once.
func TestRecover(t *testing.T) {
	f := newFixture(t, nil)
	m, _ := f.load(t)
	ctx := context.Background()
	id, err := m.Submit(ctx, Submission{Sender: "root", LocalUser: "root", Recipients: []string{"b@hamap.local"}, IgnoreDots: true},
		strings.NewReader("Subject: later\n\nbody\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.work, "mqueue", "qf"+id)); err != nil {
		t.Fatalf("not queued: %v", err)
	}
	qf, err := os.Open(filepath.Join(f.work, "mqueue", "qf"+id))
	if err != nil {
		t.Fatal(err)
	}
	queued, err := queue.ReadEnvelope(qf)
	qf.Close()
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := f.load(t)
	for range 2 {
		if _, err := m2.RunQueue(ctx, RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(f.mbox(t, "b"), "Subject: later\n"); got != 1 {
		t.Errorf("delivered %d times", got)
	}
	// A queue run adds RetryFactor to the priority, as sendmail's does.
	want := regexp.MustCompile(fmt.Sprintf(`: to=b@hamap\.local, ctladdr=root \(0/0\), delay=00:00:0\d, xdelay=00:00:00, mailer=local, pri=%d, dsn=2\.0\.0, stat=Sent\n`, queued.Priority+queue.RetryFactor))
	if !want.MatchString(f.log.String()) {
		t.Errorf("log lacks %s:\n%s", want, f.log.String())
	}
	if q := f.queueFiles(t); len(q) != 0 {
		t.Errorf("queue after the run: %v", q)
	}
}

func TestRebuildCF(t *testing.T) {
	dir := t.TempDir()
	cfPath := filepath.Join(dir, "sendmail.cf")
	if ok, err := RebuildCF(cfPath, nil); ok || err != nil {
		t.Fatalf("without an mc: %v, %v", ok, err)
	}
	mcText := "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl\nMAILER(local)dnl\n"
	if err := os.WriteFile(filepath.Join(dir, "sendmail.mc"), []byte(mcText), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	ok, err := RebuildCF(cfPath, maillog.New(&log, maillog.Options{Ident: "sendmail"}))
	if !ok || err != nil {
		t.Fatalf("rebuild: %v, %v", ok, err)
	}
	cfText, err := os.ReadFile(cfPath)
	if err != nil || !bytes.Contains(cfText, []byte("\nMlocal,")) {
		t.Fatalf("cf without Mlocal: %v", err)
	}
	if !strings.Contains(log.String(), cfPath+" rebuilt from "+filepath.Join(dir, "sendmail.mc")) {
		t.Errorf("log: %q", log.String())
	}
	// The cf is now newer: nothing to do.
	future := time.Now().Add(time.Hour)
	os.Chtimes(cfPath, future, future)
	if ok, err := RebuildCF(cfPath, nil); ok || err != nil {
		t.Errorf("up to date cf rebuilt: %v, %v", ok, err)
	}
}

func TestDotReader(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"dot ends", "a\n.\nb\n", "a\n"},
		{"crlf dot", "a\r\n.\r\nb\r\n", "a\r\n"},
		{"dot in text", "a.\n..\n.b\n", "a.\n..\n.b\n"},
		{"no end", "a\nb", "a\nb"},
		{"first line", ".\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(&dotReader{br: bufio.NewReaderSize(strings.NewReader(tc.in), 16)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitAddrs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{" b@hamap.local", []string{"b@hamap.local"}},
		{" a <a@x>, b (Bee),\n\tc@y", []string{"a@x", "b", "c@y"}},
		{" ", nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, splitAddrs(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzSplitAddrs(f *testing.F) {
	f.Add(" a <a@x>, b (Bee),\n\tc@y")
	f.Add("<<>>,,<")
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range splitAddrs(s) {
			if a == "" || strings.Contains(a, ",") {
				t.Errorf("splitAddrs(%q) gave %q", s, a)
			}
		}
	})
}
