// SPDX-License-Identifier: MIT

package dsn

import (
	"bytes"
	"flag"
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

	"github.com/emersion/go-smtp"

	"mailsuite/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files from the real sendmail")

// sinkMsg is one message the loopback sink accepted.
type sinkMsg struct {
	From string
	To   []string
	Data []byte
}

// sink is a go-smtp server that refuses bad@ with 550, defers slow@ with
// 451 and accepts everything else.
type sink struct {
	mu   sync.Mutex
	msgs []sinkMsg
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

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
	ss.cur.Data = b
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

const realMC = `divert(-1)dnl
include(` + "`" + `/usr/share/sendmail/cf/m4/cf.m4')dnl
divert(0)dnl
VERSIONID(` + "`" + `dsn oracle')dnl
OSTYPE(` + "`" + `linux')dnl
define(` + "`" + `SMART_HOST', ` + "`" + `[127.0.0.13]')dnl
define(` + "`" + `RELAY_MAILER_ARGS', ` + "`" + `TCP $h %d')dnl
MAILER(` + "`" + `local')dnl
MAILER(` + "`" + `smtp')dnl
`

const realMsg = "From: Sender <sender@sender.example>\nTo: %[1]s\nSubject: test %[2]s\nMessage-ID: <%[2]s@sender.example>\nDate: Fri, 27 Nov 2026 01:00:00 +0000\n\nHello %[1]s.\nSecond line.\n"

// runRealSendmail queues messages with the installed sendmail (smart
// host = a loopback sink, inside a mount and UTS namespace with a private
// hosts file and a loopback-only resolv.conf), runs the queue, and
// returns what the sink received: the bounces and warnings.
func runRealSendmail(t *testing.T) []sinkMsg {
	t.Helper()
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "the real sendmail runs its queue as root")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal(err)
		}
		t.Skip("sendmail-cf not installed")
	}

	ln, err := net.Listen("tcp", "127.0.0.13:0")
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{}
	srv := smtp.NewServer(sk)
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o755)
	}
	write := func(name, s string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("sendmail.mc", fmt.Sprintf(realMC, port), 0o644)
	cfText, err := exec.Command(m4, filepath.Join(dir, "sendmail.mc")).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	write("sendmail.cf", string(cfText), 0o644)
	write("hosts", "127.0.0.1 mail.hamap.local mail localhost\n127.0.0.13 sink.test sink.test.\n127.0.0.14 sender.example\n127.0.0.15 outside.example\n", 0o644)
	write("resolv.conf", "nameserver 127.0.0.1\n", 0o644)
	write("aliases", "postmaster: root\nmailer-daemon: postmaster\nroot: root@sink.test\nbroken: \"|/bin/false\"\n", 0o644)
	write("bad.eml", fmt.Sprintf(realMsg, "bad@outside.example", "bounce"), 0o644)
	write("hdrs.eml", fmt.Sprintf(realMsg, "bad2@outside.example", "hdrs"), 0o644)
	write("slow.eml", fmt.Sprintf(realMsg, "slow@outside.example", "warn"), 0o644)
	write("ghost.eml", fmt.Sprintf(realMsg, "ghost", "ghost"), 0o644)
	write("prog.eml", fmt.Sprintf(realMsg, "broken", "prog"), 0o644)
	for _, d := range []string{"mqueue", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`set -e
for f in resolv.conf hosts; do mount --bind %[1]s/$f /etc/$f; done
mount --bind %[1]s/root /root
hostname mail.hamap.local
S="%[2]s -C %[1]s/sendmail.cf -O QueueDirectory=%[1]s/mqueue -O AliasFile=%[1]s/aliases -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe -O QueueLA=10000 -O RefuseLA=10000 -O Timeout.queuewarn=1s"
$S -bi >/dev/null
$S -odq -f sender@sender.example -V envid-bounce bad@outside.example < %[1]s/bad.eml
$S -odq -f sender@sender.example -R hdrs -N failure,delay bad2@outside.example < %[1]s/hdrs.eml
$S -odq -f sender@sender.example -N failure,delay slow@outside.example < %[1]s/slow.eml
sleep 2
$S -q
sleep 1
$S -q
$S -odi -f sender@sender.example ghost < %[1]s/ghost.eml || true
$S -odi -f sender@sender.example broken < %[1]s/prog.eml || true
sleep 1
$S -q -O Timeout.queuereturn=1s
`, dir, sendmail)
	cmd := exec.Command("unshare", "-m", "-u", "sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	t.Logf("sendmail output:\n%s", out)
	// Wait for every kind of notification, not for a count: the queue
	// runs may deliver them in any order.
	deadline := time.Now().Add(15 * time.Second)
	for {
		seen := map[string]bool{}
		sk.mu.Lock()
		for _, m := range sk.msgs {
			seen[classify(m)] = true
		}
		sk.mu.Unlock()
		all := true
		for _, tc := range goldenCases() {
			all = all && seen[tc.name]
		}
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return append([]sinkMsg(nil), sk.msgs...)
}

// classify names a notification the real sendmail sent after the golden
// case it is compared with.
func classify(m sinkMsg) string {
	switch {
	case bytes.Contains(m.Data, []byte("Subject: Warning")):
		return "warning"
	case bytes.Contains(m.Data, []byte("test warn")):
		return "return"
	case bytes.Contains(m.Data, []byte("test ghost")):
		return "bounce-local"
	case bytes.Contains(m.Data, []byte("test prog")):
		return "bounce-prog"
	case bytes.Contains(m.Data, []byte("test hdrs")):
		return "bounce-hdrs"
	case bytes.Contains(m.Data, []byte("test bounce")):
		return "bounce"
	}
	return "other"
}

var (
	maskQID  = regexp.MustCompile(`\b[0-9A-Za-z]{8}[0-9]{6}\b`)
	maskDate = regexp.MustCompile(`(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [ 0-9]?\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d (GMT|[-+]\d{4})`)
	maskMID  = regexp.MustCompile(`<[0-9]{12}\.QUEUEID0000000@`)
	maskBnd  = regexp.MustCompile(`QUEUEID0000000\.[0-9]+/`)
)

// mask replaces the run's queue ids, dates and MIME boundaries with fixed
// strings so vectors are stable.
func mask(b []byte) []byte {
	b = maskQID.ReplaceAll(b, []byte("QUEUEID0000000"))
	b = maskDate.ReplaceAll(b, []byte("Fri, 27 Nov 2026 01:00:00 $3"))
	b = maskMID.ReplaceAll(b, []byte("<202611270100.QUEUEID0000000@"))
	b = maskBnd.ReplaceAll(b, []byte("QUEUEID0000000.1000000000/"))
	return b
}

// TestRealSendmailVectors has the real sendmail bounce two messages
// (one with RET=HDRS), warn about a third and return it at
// Timeout.queuereturn, and bounce an unknown local user and a failing
// "|program" alias, and compares each with
// what Report writes for the same failure. With -update it rewrites the
// vectors TestGolden reads.
func TestRealSendmailVectors(t *testing.T) {
	msgs := runRealSendmail(t)
	got := map[string][]byte{}
	for _, m := range msgs {
		name := classify(m)
		if m.From != "" || len(m.To) != 1 || m.To[0] != "sender@sender.example" {
			t.Errorf("%s: envelope from=<%s> to=%v, want the null sender to sender@sender.example", name, m.From, m.To)
		}
		got[name] = mask(m.Data)
		if *update {
			if err := os.WriteFile(filepath.Join("testdata", "real-"+name+".eml"), got[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			want, ok := got[tc.name]
			if !ok {
				var names []string
				for _, m := range msgs {
					subj := regexp.MustCompile(`(?m)^Subject: .*$`).FindAll(m.Data, -1)
					names = append(names, fmt.Sprintf("from=<%s> to=%v %q", m.From, m.To, subj))
				}
				t.Fatalf("the real sendmail sent no %s (got %d messages: %s)", tc.name, len(msgs), strings.Join(names, "; "))
			}
			compare(t, want, tc.r)
		})
	}
}
