// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/testutil"
	"mailsuite/internal/testutil/dnstest"
)

// mtaWork is a work directory with a cf made by m4 from internal/mta's
// test mc, users a and b, an alias file and a spool.
type mtaWork struct {
	dir, cf, spool string
}

func newMTAWork(t *testing.T, defines ...string) *mtaWork {
	t.Helper()
	testutil.RequireRoot(t, "mailboxes are created owned by the test users")
	m4 := testutil.Oracle(t, "m4", "m4")
	w := &mtaWork{dir: t.TempDir()}
	w.cf = filepath.Join(w.dir, "sendmail.cf")
	w.spool = filepath.Join(w.dir, "spool")
	mc := filepath.Join(testutil.RepoRoot(t), "internal", "mta", "testdata", "mta.mc")
	args := append([]string{"-D_NO_MAKEINFO_", "-DWORKDIR=" + w.dir}, defines...)
	cfText, err := exec.Command(m4, append(args, mc)...).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	w.write(t, "sendmail.cf", string(cfText))
	w.write(t, "local-host-names", "hamap.local\nmail.hamap.local\n")
	w.write(t, "relay-domains", "")
	w.write(t, "aliases", "postmaster: b\nteam: a, b\n")
	w.write(t, "passwd", "root:x:0:0:Charlie Root:/root:/bin/sh\na:x:1023:1023::/nonexistent:/bin/sh\nb:x:1024:1024::/nonexistent:/bin/sh\n")
	w.write(t, "shadow", "")
	w.write(t, "hosts", "127.0.0.1 localhost\n127.0.0.1 mail.hamap.local mail\n")
	w.write(t, "nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n")
	w.write(t, "resolv.conf", "nameserver 127.0.0.1\n")
	for _, d := range []string{"mqueue", "spool"} {
		if err := os.Mkdir(filepath.Join(w.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("MAILSUITE_PASSWD", filepath.Join(w.dir, "passwd"))
	t.Setenv("MAILSUITE_SHADOW", filepath.Join(w.dir, "shadow"))
	t.Setenv("MAILSUITE_SPOOL", w.spool)
	// The courier's DNS stays on loopback (nothing listens on port 53
	// there in these tests): never the system resolver.
	t.Setenv(remote.ResolvConfEnv, filepath.Join(w.dir, "resolv.conf"))
	return w
}

func (w *mtaWork) write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (w *mtaWork) queue(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(w.dir, "mqueue"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// invoke runs the command in-process under the given argv[0].
func (w *mtaWork) invoke(t *testing.T, name, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	args = append([]string{"-C", w.cf, "-L", filepath.Join(w.dir, "maillog")}, args...)
	code = run(name, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestPersonalities drives the sendmail, mailq and newaliases names
// in-process: newaliases builds aliases.db, sendmail -t -i and an alias
// recipient are delivered into the spool, a recipient that is not local
// stays queued and is listed by mailq and sendmail -bp, and -bv shows
// the expansion.
func TestPersonalities(t *testing.T) {
	w := newMTAWork(t)
	code, out, errOut := w.invoke(t, "newaliases", "")
	if code != 0 || out != w.dir+"/aliases: 2 aliases, longest 4 bytes, 19 bytes total\n" {
		t.Fatalf("newaliases: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "aliases.db")); err != nil {
		t.Fatalf("newaliases made no database: %v", err)
	}

	t.Run("sendmail -t -i", func(t *testing.T) {
		msg := "From: a@hamap.local\nTo: b@hamap.local\nSubject: cmdline\n\nline\n.\nafter the dot\n"
		if code, _, errOut := w.invoke(t, "sendmail", msg, "-t", "-i"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		mbox, err := os.ReadFile(filepath.Join(w.spool, "b"))
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`^From root  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <root@mail\.hamap\.local>\nReceived: \(from root@localhost\)\n\tby mail\.hamap\.local \(8\.17\.1\.9/8\.17\.1\.9\) id \w{14};\n\t.*\nDate: .*\nMessage-Id: <\d{12}\.\w{14}@mail\.hamap\.local>\nFrom: a@hamap\.local\nTo: b@hamap\.local\nSubject: cmdline\n\nline\n\.\nafter the dot\n\n$`)
		if !re.Match(mbox) {
			t.Errorf("mbox of b:\n%s", mbox)
		}
		if q := w.queue(t); len(q) != 0 {
			t.Errorf("queue: %v", q)
		}
		// The from= line names the Message-Id the delivery added.
		mid := regexp.MustCompile(`(?m)^Message-Id: (<.*>)$`).FindSubmatch(mbox)
		logs, _ := os.ReadFile(filepath.Join(w.dir, "maillog"))
		if mid == nil || !strings.Contains(string(logs), ": from=root, size=") || !strings.Contains(string(logs), ", nrcpts=1, msgid="+string(mid[1])+", relay=root@localhost\n") {
			t.Errorf("log:\n%s", logs)
		}
	})

	t.Run("-t suppresses argument addresses", func(t *testing.T) {
		os.Remove(filepath.Join(w.spool, "a"))
		msg := "To: a@hamap.local, b@hamap.local\nBcc: a@hamap.local\nSubject: suppressed\n\nx\n"
		if code, _, errOut := w.invoke(t, "sendmail", msg, "-t", "a@hamap.local"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(w.spool, "a")); err == nil {
			t.Errorf("a got a copy")
		}
		mbox, _ := os.ReadFile(filepath.Join(w.spool, "b"))
		if !strings.Contains(string(mbox), "Subject: suppressed\n") || strings.Contains(string(mbox), "Bcc:") {
			t.Errorf("mbox of b:\n%s", mbox)
		}
	})

	t.Run("alias", func(t *testing.T) {
		if code, _, errOut := w.invoke(t, "sendmail", "Subject: to postmaster\n\nhi\n.\nnot this\n", "postmaster@hamap.local"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		mbox, _ := os.ReadFile(filepath.Join(w.spool, "b"))
		if !strings.Contains(string(mbox), "Subject: to postmaster\n") || strings.Contains(string(mbox), "not this") {
			t.Errorf("mbox of b:\n%s", mbox)
		}
	})

	t.Run("deferred for a remote recipient", func(t *testing.T) {
		if code, _, errOut := w.invoke(t, "sendmail", "Subject: far\n\nhi\n", "-f", "a@hamap.local", "friend@outside.example"); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, c := range [][]string{{"mailq"}, {"sendmail", "-bp"}} {
			code, out, errOut := w.invoke(t, c[0], "", c[1:]...)
			re := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(filepath.Join(w.dir, "mqueue")) + ` \(1 request\)\n-+Q-ID-+ -+Size-+ -+Q-Time-+ -+Sender/Recipient-+\n\w{14}[*X-]?\s+\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d a@hamap\.local\n\s+\(Deferred: Name server: outside\.example: host name lookup fai\)\n\s+friend@outside\.example\n\s+Total requests: 1\n$`)
			if code != 0 || !re.MatchString(out) {
				t.Errorf("%s: exit %d, stderr %q, listing:\n%s", c, code, errOut, out)
			}
		}
		// No name server answers here: a queue run defers it again.
		if code, _, errOut := w.invoke(t, "sendmail", "", "-q"); code != 0 {
			t.Errorf("-q: exit %d: %s", code, errOut)
		}
		if q := w.queue(t); len(q) != 2 {
			t.Errorf("queue after -q: %v", q)
		}
	})

	t.Run("-bv", func(t *testing.T) {
		code, out, _ := w.invoke(t, "sendmail", "", "-bv", "team", "nobody", "x@outside.example")
		want := "a... deliverable: mailer local, user a\nb... deliverable: mailer local, user b\nnobody... User unknown\n" +
			"x@outside.example... deliverable: mailer esmtp, host outside.example, user x@outside.example\n"
		if code != exNoUser || out != want {
			t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", code, out, want)
		}
	})

	t.Run("no recipients", func(t *testing.T) {
		if code, _, errOut := w.invoke(t, "sendmail", "x\n"); code != exUsage || errOut != "Recipient names must be specified\n" {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestCrashRecovery kills sendmaild -bd with SIGKILL after it answered
// 250 and while the local mailer is still running, restarts it and
// checks that the message is delivered exactly once and leaves the
// queue. The local mailer is a script that blocks on its first run.
func TestCrashRecovery(t *testing.T) {
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	script := filepath.Join(dir, "local.sh")
	w := newMTAWork(t, "-DPORT="+strconv.Itoa(port), "-DLOCAL_PATH="+script, "-DLOCAL_ARGS=local.sh $u")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
for u; do :; done
if [ -e %[1]s/block ]; then
	/bin/rm %[1]s/block
	echo $$ > %[1]s/blocked.pid
	exec /bin/sleep 60
fi
/bin/cat >> %[1]s/spool/$u
`, w.dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	w.write(t, "block", "")
	logPath := filepath.Join(w.dir, "maillog")
	start := func() (*exec.Cmd, chan error, *strings.Builder) {
		return w.startDaemon(t, unshare, logPath)
	}
	cmd, exited, stderr := start()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var conn net.Conn
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if conn, err = net.DialTimeout("tcp4", addr, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendmaild not listening: %v; stderr: %s", err, stderr.String())
		}
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	var replies []string
	for _, c := range []string{"", "HELO pc", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA", "Subject: once\r\n\r\nonly once\r\n."} {
		if c != "" {
			io.WriteString(conn, c+"\r\n")
		}
		line, _ := br.ReadString('\n')
		replies = append(replies, strings.TrimSpace(line))
	}
	conn.Close()
	if !strings.HasPrefix(replies[5], "250 2.0.0 ") {
		t.Fatalf("replies: %q", replies)
	}
	qid := strings.Fields(replies[5])[2]

	// The mailer is running (blocked): kill sendmaild, then the mailer.
	pidFile := filepath.Join(w.dir, "blocked.pid")
	var pid int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local mailer never ran; stderr: %s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "mqueue", "qf"+qid)); err != nil {
		t.Fatalf("message not queued after the crash: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.spool, "b")); err == nil {
		t.Fatal("mailbox written before the restart")
	}

	// Restart: the queue run on start delivers it.
	cmd, exited, stderr = start()
	for deadline := time.Now().Add(20 * time.Second); len(w.queue(t)) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue not emptied after the restart: %v; stderr: %s", w.queue(t), stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("sendmaild exited with %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("sendmaild did not exit after SIGTERM")
	}
	mbox, err := os.ReadFile(filepath.Join(w.spool, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(mbox), "Subject: once\n"); n != 1 {
		t.Errorf("delivered %d times:\n%s", n, mbox)
	}
	logs, _ := os.ReadFile(logPath)
	if !regexp.MustCompile(qid + `: to=<b@hamap\.local>, ctladdr=<a@hamap\.local> \(1023/1023\), delay=.*, mailer=local, pri=\d+, dsn=2\.0\.0, stat=Sent\n`).Match(logs) {
		t.Errorf("no stat=Sent line for %s:\n%s", qid, logs)
	}
	if strings.Contains(string(logs), "SYSERR") {
		t.Errorf("SYSERR in the log:\n%s", logs)
	}
}

// stallSink is a smart host whose first DATA never gets its reply: it
// holds the transaction until release is closed. Later ones succeed.
type stallSink struct {
	mu       sync.Mutex
	received int // bodies read, the held one included
	accepted []string
	stalled  chan struct{}
	release  chan struct{}
}

func (s *stallSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &stallSession{s: s}, nil }

type stallSession struct {
	s  *stallSink
	to []string
}

func (ss *stallSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *stallSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *stallSession) Reset()        { ss.to = nil }
func (ss *stallSession) Logout() error { return nil }

func (ss *stallSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	s.received++
	first := s.received == 1
	s.mu.Unlock()
	if first {
		close(s.stalled)
		<-s.release
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "too late"}
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, string(body))
	s.mu.Unlock()
	return nil
}

// TestCrashDuringRelay kills sendmaild -bd with SIGKILL while its queue
// run is in the middle of an outbound DATA (the smart host holds the
// final reply), restarts it, and checks that nothing was lost: the
// attempt was on disk before it was made (N1), the message is relayed
// after the restart, and the smart host accepted it exactly once (it
// read the body twice: the one message a crash may send twice).
func TestCrashDuringRelay(t *testing.T) {
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	ln, err := net.Listen("tcp4", "127.0.0.46:0")
	if err != nil {
		t.Fatal(err)
	}
	relayPort := ln.Addr().(*net.TCPAddr).Port
	sk := &stallSink{stalled: make(chan struct{}), release: make(chan struct{})}
	srv := smtp.NewServer(sk)
	srv.Domain = "smart.test"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(sk.release) }) }
	t.Cleanup(func() { release(); ln.Close(); srv.Close() })

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	w := newMTAWork(t, "-DPORT="+strconv.Itoa(port), "-DSMART=relay:[127.0.0.46]", "-DRELAY_PORT="+strconv.Itoa(relayPort))
	code, _, errOut := w.invoke(t, "sendmail", "Subject: relayed once\n\nbody\n", "-O", "DeliveryMode=q", "-f", "a@hamap.local", "friend@outside.example")
	if code != 0 {
		t.Fatalf("submission: exit %d: %s", code, errOut)
	}
	q := w.queue(t)
	if len(q) != 2 {
		t.Fatalf("queue after the submission: %v", q)
	}
	qid := strings.TrimPrefix(q[1], "qf")
	logPath := filepath.Join(w.dir, "maillog")
	start := func() (*exec.Cmd, chan error, *strings.Builder) {
		return w.startDaemon(t, unshare, logPath, "-q30m")
	}

	// The queue run on start relays the message; the smart host holds
	// the final dot's reply, and sendmaild dies.
	cmd, exited, stderr := start()
	select {
	case <-sk.stalled:
	case <-time.After(30 * time.Second):
		t.Fatalf("no delivery started; stderr: %s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	b, err := os.ReadFile(filepath.Join(w.dir, "mqueue", "qf"+qid))
	if err != nil {
		t.Fatalf("message lost by the crash: %v", err)
	}
	if !regexp.MustCompile(`(?m)^N1$`).Match(b) || !regexp.MustCompile(`(?m)^K[1-9]\d*$`).Match(b) {
		t.Errorf("the attempt was not recorded before it was made:\n%s", b)
	}
	release()

	// Restart: delivered, and only once accepted.
	cmd, exited, stderr = start()
	for deadline := time.Now().Add(30 * time.Second); len(w.queue(t)) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue not emptied after the restart: %v; stderr: %s", w.queue(t), stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(40 * time.Second):
		t.Fatal("sendmaild did not exit after SIGTERM")
	}
	sk.mu.Lock()
	received, accepted := sk.received, sk.accepted
	sk.mu.Unlock()
	if received != 2 || len(accepted) != 1 || !strings.Contains(accepted[0], "Subject: relayed once\r\n") {
		t.Errorf("smart host read %d bodies and accepted %d: %q", received, len(accepted), accepted)
	}
	logs, _ := os.ReadFile(logPath)
	if !regexp.MustCompile(qid + `: to=friend@outside\.example, ctladdr=a@hamap\.local \(1023/1023\), delay=.*, mailer=relay, pri=\d+, relay=\[127\.0\.0\.46\] \[127\.0\.0\.46\], dsn=2\.0\.0, stat=Sent \(OK: queued\)\n`).Match(logs) {
		t.Errorf("no stat=Sent line for %s:\n%s", qid, logs)
	}
	if !strings.Contains(string(logs), ": starting daemon (8.17.1.9): SMTP+queueing@00:30:00\n") {
		t.Errorf("no starting daemon line with the queue interval:\n%s", logs)
	}
	if strings.Contains(string(logs), "SYSERR") {
		t.Errorf("SYSERR in the log:\n%s", logs)
	}
}

// TestQueueRunVerbose: sendmail -q -v runs the queue in the foreground
// and shows the SMTP dialogue and each recipient's status; -qR selects.
func TestQueueRunVerbose(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.46:0")
	if err != nil {
		t.Fatal(err)
	}
	sk := &stallSink{received: 1} // no stall: every DATA is accepted
	srv := smtp.NewServer(sk)
	srv.Domain = "smart.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close(); srv.Close() })
	w := newMTAWork(t, "-DSMART=relay:[127.0.0.46]", "-DRELAY_PORT="+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	for _, rcpt := range []string{"one@outside.example", "two@elsewhere.example"} {
		if code, _, errOut := w.invoke(t, "sendmail", "Subject: q\n\nbody\n", "-O", "DeliveryMode=q", "-f", "a@hamap.local", rcpt); code != 0 {
			t.Fatalf("submission: exit %d: %s", code, errOut)
		}
	}
	code, out, errOut := w.invoke(t, "sendmail", "", "-qR@ELSEWHERE", "-v")
	if code != 0 {
		t.Fatalf("-q -v: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"\n>>> EHLO mail.hamap.local\n", "\n>>> MAIL From:<a@hamap.local> SIZE=17\n", "\n>>> RCPT To:<two@elsewhere.example>\n>>> DATA\n", "\n354 ", "\n>>> .\n",
		"\n250 2.0.0 OK: queued\n", "\ntwo@elsewhere.example... Sent (OK: queued)\n"} {
		if !strings.Contains("\n"+out, want) {
			t.Errorf("-q -v output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "one@outside") || len(sk.accepted) != 1 || len(w.queue(t)) != 2 {
		t.Errorf("-qR@ELSEWHERE ran more than the one message: %d accepted, queue %v\n%s", len(sk.accepted), w.queue(t), out)
	}
	// The connection lines as the real sendmail 8.17 prints them (seen
	// with its -q -v against a loopback sink): the run numbers its
	// messages, says where it connects (with the port when the mailer
	// names one), and closes its cached connection at the end.
	port := ln.Addr().(*net.TCPAddr).Port
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^\nRunning /\S+/mqueue/\w{14} \(sequence 1 of 1\)\n`),
		regexp.MustCompile(`\ntwo@elsewhere\.example\.\.\. Connecting to \[127\.0\.0\.46\] port ` + strconv.Itoa(port) + ` via relay\.\.\.\n220 `),
		regexp.MustCompile(`\nClosing connection to \[127\.0\.0\.46\]\n>>> QUIT\n221 [^\n]*\n$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("-q -v output does not match %s:\n%s", want, out)
		}
	}
	// A second message to the same host reuses the connection after a
	// RSET probe (ConnectionCacheSize is 2 in the stock cf).
	if code, _, errOut := w.invoke(t, "sendmail", "Subject: q\n\nbody\n", "-O", "DeliveryMode=q", "-f", "a@hamap.local", "three@outside.example"); code != 0 {
		t.Fatalf("submission: exit %d: %s", code, errOut)
	}
	code, out, errOut = w.invoke(t, "sendmail", "", "-q", "-v")
	if code != 0 {
		t.Fatalf("-q -v: exit %d: %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\(sequence 1 of 2\)\n\S+@outside\.example\.\.\. Connecting to \[127\.0\.0\.46\] port \d+ via relay\.\.\.\n`),
		regexp.MustCompile(`\(sequence 2 of 2\)\n>>> RSET\n250 [^\n]*\n\S+@outside\.example\.\.\. Using cached ESMTP connection to \[127\.0\.0\.46\] via relay\.\.\.\n>>> MAIL `),
	} {
		if !want.MatchString(out) {
			t.Errorf("second -q -v output does not match %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Connecting to"); n != 1 || len(sk.accepted) != 3 || len(w.queue(t)) != 0 {
		t.Errorf("second run: %d connections (want 1), %d accepted (want 3), queue %v\n%s", n, len(sk.accepted), w.queue(t), out)
	}
}

func TestConvtime(t *testing.T) {
	for in, want := range map[string]time.Duration{"30m": 30 * time.Minute, "1h": time.Hour, "15": 15 * time.Minute,
		"1h30m": 90 * time.Minute, "2d": 48 * time.Hour, "1w": 7 * 24 * time.Hour, "45s": 45 * time.Second} {
		if got, err := convtime(in); err != nil || got != want {
			t.Errorf("convtime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"h", "1x", "-1m", "1.5h"} {
		if _, err := convtime(bad); err == nil {
			t.Errorf("convtime(%q) accepted", bad)
		}
	}
}

func FuzzConvtime(f *testing.F) {
	for _, s := range []string{"30m", "1h30m", "15", "2d", "1w", "99999999999999999999h", "m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := convtime(s)
		if err == nil && d < 0 {
			t.Fatalf("convtime(%q) = %v", s, d)
		}
	})
}

// TestTwoDaemons runs two sendmaild -bd processes on 127.0.0.51 and
// 127.0.0.52, each local for its own domain, with the test's DNS server
// named by MAILSUITE_RESOLV_CONF: a message queued on a.test reaches
// b's mailbox on b.test through the MX records with both hops in the
// Received chain, and "ETRN a.test" makes b.test relay the reply.
func TestTwoDaemons(t *testing.T) {
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	l, err := net.Listen("tcp4", "127.0.0.51:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dns := dnstest.New(t)
	dns.AddMX("a.test", "mail.a.test", 10)
	dns.AddA("mail.a.test", "127.0.0.51")
	dns.AddMX("b.test", "mail.b.test", 10)
	dns.AddA("mail.b.test", "127.0.0.52")
	resolv, err := dns.WriteResolvConf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	type side struct {
		w       *mtaWork
		log, ip string
	}
	mk := func(ip, domain string) side {
		w := newMTAWork(t, "-DPORT="+strconv.Itoa(port), "-DLISTEN="+ip, "-DESMTP_PORT="+strconv.Itoa(port), "-DDOMAIN_NAME=mail."+domain)
		w.write(t, "local-host-names", domain+"\nmail."+domain+"\n")
		// Go's resolver follows nsswitch.conf: without dns on the
		// hosts line, the MX hosts' addresses are never looked up.
		w.write(t, "nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")
		return side{w, filepath.Join(w.dir, "maillog"), ip}
	}
	a, b := mk("127.0.0.51", "a.test"), mk("127.0.0.52", "b.test")
	start := func(s side) {
		sh := fmt.Sprintf(`set -e
for f in hosts nsswitch.conf resolv.conf; do mount --bind %[1]s/$f /etc/$f; done
exec %[2]s -bd -C %[3]s -L %[4]s
`, s.w.dir, os.Args[0], s.w.cf, s.log)
		cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", sh)
		cmd.Env = append(os.Environ(), "SENDMAILD_TEST_MAIN=1", "MAILSUITE_SPOOL="+s.w.spool, remote.ResolvConfEnv+"="+resolv)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			c, err := net.DialTimeout("tcp4", net.JoinHostPort(s.ip, strconv.Itoa(port)), time.Second)
			if err == nil {
				c.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("sendmaild not listening: %v; stderr: %s", err, stderr.String())
			}
		}
	}
	mbox := func(s side, user, want string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			box, _ := os.ReadFile(filepath.Join(s.w.spool, user))
			if strings.Contains(string(box), want) {
				return string(box)
			}
			if time.Now().After(deadline) {
				la, _ := os.ReadFile(a.log)
				lb, _ := os.ReadFile(b.log)
				t.Fatalf("%s's mailbox lacks %q:\n%s\nlog of a.test:\n%s\nlog of b.test:\n%s", user, want, box, la, lb)
			}
		}
	}

	start(b)
	// Queued on a.test; the daemon's queue run on start relays it.
	if code, _, errOut := a.w.invoke(t, "sendmail", "From: a@a.test\nSubject: across\n\nhello b\n", "-O", "DeliveryMode=q", "-f", "a@a.test", "b@b.test"); code != 0 {
		t.Fatalf("submission on a.test: exit %d: %s", code, errOut)
	}
	start(a)
	got := mbox(b, "b", "\nhello b\n")
	re := regexp.MustCompile(`(?s)^From a@a\.test  .*\nReturn-Path: <a@a\.test>\nReceived: from mail\.a\.test \(.*\[127\.0\.0\.1\]\)\n\tby mail\.b\.test \(8\.17\.1\.9/8\.17\.1\.9\) with ESMTP id \w{14}\n\tfor <b@b\.test>; .*\nReceived: \(from root@localhost\)\n\tby mail\.a\.test \(8\.17\.1\.9/8\.17\.1\.9\) id \w{14}\n\tfor b@b\.test; .*\nSubject: across\n\nhello b\n`)
	if !re.MatchString(got) {
		t.Errorf("b's mailbox on b.test:\n%s", got)
	}

	// The reply waits in b.test's queue until a.test asks for it.
	if code, _, errOut := b.w.invoke(t, "sendmail", "Subject: back\n\nhello a\n", "-O", "DeliveryMode=q", "-f", "b@b.test", "a@a.test"); code != 0 {
		t.Fatalf("submission on b.test: exit %d: %s", code, errOut)
	}
	c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.52", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	var replies []string
	for _, cmd := range []string{"", "EHLO mail.a.test", "ETRN a.test", "QUIT"} {
		if cmd != "" {
			io.WriteString(c, cmd+"\r\n")
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v (%q)", cmd, err, replies)
			}
			if len(line) < 4 || line[3] != '-' {
				replies = append(replies, strings.TrimSpace(line))
				break
			}
		}
	}
	if replies[2] != "250 2.0.0 Queuing for node a.test started" {
		t.Errorf("ETRN: %q", replies)
	}
	mbox(a, "a", "\nhello a\n")
	logs, _ := os.ReadFile(b.log)
	if !regexp.MustCompile(`: to=a@a\.test, ctladdr=b@b\.test \(1024/1024\), delay=.*, mailer=esmtp, pri=\d+, relay=mail\.a\.test\. \[127\.0\.0\.51\], dsn=2\.0\.0, stat=Sent \(`).Match(logs) {
		t.Errorf("b.test's log:\n%s", logs)
	}
}

// TestCrashBeforeAccept kills sendmaild -bd with SIGKILL after the client
// sent the whole body but before the daemon read the final dot: the daemon
// is stopped (SIGSTOP, waited for on every thread) once the data file
// exists, the dot is sent into the stopped daemon's socket, then SIGKILL.
// The client must see no 250, and after a restart nothing is delivered
// and no control file exists; the body's data file may stay behind,
// ignored by queue runs and mailq as sendmail ignores a df without qf.
func TestCrashBeforeAccept(t *testing.T) {
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	w := newMTAWork(t, "-DPORT="+strconv.Itoa(port))
	logPath := filepath.Join(w.dir, "maillog")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	start := func() (*exec.Cmd, chan error, *strings.Builder) {
		return w.startDaemon(t, unshare, logPath)
	}
	dial := func(stderr *strings.Builder) net.Conn {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			conn, err := net.DialTimeout("tcp4", addr, time.Second)
			if err == nil {
				return conn
			}
			if time.Now().After(deadline) {
				t.Fatalf("sendmaild not listening: %v; stderr: %s", err, stderr.String())
			}
		}
	}
	dfs := func() []string {
		var out []string
		for _, n := range w.queue(t) {
			if strings.HasPrefix(n, "df") {
				out = append(out, n)
			}
		}
		return out
	}

	cmd, exited, stderr := start()
	conn := dial(stderr)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	for _, c := range []string{"", "HELO pc", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA"} {
		if c != "" {
			io.WriteString(conn, c+"\r\n")
		}
		line, err := br.ReadString('\n')
		if err != nil || (c == "DATA") != strings.HasPrefix(line, "354 ") {
			t.Fatalf("%q: reply %q, %v", c, line, err)
		}
	}
	io.WriteString(conn, "Subject: never\r\n\r\nnever delivered\r\n")
	for deadline := time.Now().Add(20 * time.Second); len(dfs()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no data file after DATA: %v", w.queue(t))
		}
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitAllStopped(t, pid)
	io.WriteString(conn, ".\r\n")
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	rest, _ := io.ReadAll(br)
	if strings.Contains(string(rest), "250") {
		t.Fatalf("client saw %q after the final dot", rest)
	}
	conn.Close()
	for _, n := range w.queue(t) {
		if !strings.HasPrefix(n, "df") {
			t.Errorf("queue file %s after the crash (only a df may remain): %v", n, w.queue(t))
		}
	}

	// Restart: the queue run on start must deliver nothing, and a new
	// message still goes through (the leftover df does not block it).
	cmd, exited, stderr = start()
	conn = dial(stderr)
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br = bufio.NewReader(conn)
	var replies []string
	for _, c := range []string{"", "HELO pc", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA", "Subject: after\r\n\r\nafter restart\r\n.", "QUIT"} {
		if c != "" {
			io.WriteString(conn, c+"\r\n")
		}
		line, _ := br.ReadString('\n')
		replies = append(replies, strings.TrimSpace(line))
	}
	conn.Close()
	if !strings.HasPrefix(replies[5], "250 2.0.0 ") {
		t.Fatalf("replies after restart: %q", replies)
	}
	mboxPath := filepath.Join(w.spool, "b")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(mboxPath); strings.Contains(string(b), "Subject: after\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second message not delivered; queue %v; stderr: %s", w.queue(t), stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("sendmaild exited with %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("sendmaild did not exit after SIGTERM")
	}
	mbox, _ := os.ReadFile(mboxPath)
	if strings.Contains(string(mbox), "never delivered") || strings.Count(string(mbox), "Subject: after\n") != 1 {
		t.Errorf("mailbox:\n%s", mbox)
	}
	for _, n := range w.queue(t) {
		if !strings.HasPrefix(n, "df") {
			t.Errorf("queue file %s left after the restart: %v", n, w.queue(t))
		}
	}
	// A queue run and mailq ignore the orphan df.
	if code, out, errOut := w.invoke(t, "sendmail", "", "-q"); code != 0 {
		t.Errorf("sendmail -q: exit %d: %s%s", code, out, errOut)
	}
	if code, out, _ := w.invoke(t, "mailq", ""); code != 0 || strings.Contains(out, "never") || strings.Contains(out, "a@hamap.local") {
		t.Errorf("mailq: exit %d:\n%s", code, out)
	}
	mbox, _ = os.ReadFile(mboxPath)
	if strings.Contains(string(mbox), "never delivered") {
		t.Errorf("orphan body delivered by a queue run:\n%s", mbox)
	}
}

// waitAllStopped waits until every thread of process pid is in the
// stopped state: SIGSTOP does not take effect at once on another CPU.
func waitAllStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		all := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				all = false
				break
			}
			// The state follows the ")" that closes the command name.
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || (s[i+2] != 'T' && s[i+2] != 't') {
				all = false
				break
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not stopped", pid)
		}
	}
}

// startDaemon runs this work's cf as "sendmaild -bd [flags] -L logPath",
// re-executing the test binary, in a private mount namespace whose
// hosts, nsswitch.conf and resolv.conf are the work's. It returns the
// command, its exit and its standard error; the test's end kills it.
func (w *mtaWork) startDaemon(t *testing.T, unshare, logPath string, flags ...string) (*exec.Cmd, chan error, *strings.Builder) {
	t.Helper()
	sh := fmt.Sprintf(`set -e
for f in hosts nsswitch.conf resolv.conf; do mount --bind %[1]s/$f /etc/$f; done
exec %[2]s -bd %[5]s-C %[3]s -L %[4]s
`, w.dir, os.Args[0], w.cf, logPath, strings.Join(append(flags, ""), " "))
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", sh)
	cmd.Env = append(os.Environ(), "SENDMAILD_TEST_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, exited, &stderr
}
