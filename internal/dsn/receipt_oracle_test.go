// SPDX-License-Identifier: MIT

package dsn

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/queue"
	"mailsuite/internal/testutil"
)

// paramSink is a loopback SMTP server that records the DSN parameters it
// is given; dsn says whether it offers the DSN extension.
type paramSink struct {
	mu   sync.Mutex
	msgs []paramMsg
}

// paramMsg is one transaction with its MAIL and RCPT parameters as the
// sink saw them.
type paramMsg struct {
	From  string
	Ret   string
	EnvID string
	To    []string
	Rcpts []string // "addr NOTIFY=… ORCPT=…"
	Data  []byte
}

func (s *paramSink) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &paramSession{s: s}, nil
}

func (s *paramSink) got() []paramMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]paramMsg(nil), s.msgs...)
}

type paramSession struct {
	s   *paramSink
	cur paramMsg
}

func (ps *paramSession) Mail(from string, o *smtp.MailOptions) error {
	ps.cur = paramMsg{From: strings.Clone(from)}
	if o != nil {
		ps.cur.Ret, ps.cur.EnvID = string(o.Return), strings.Clone(o.EnvelopeID)
	}
	return nil
}

func (ps *paramSession) Rcpt(to string, o *smtp.RcptOptions) error {
	// go-smtp may reuse the memory behind the strings it passes.
	to = strings.Clone(to)
	ps.cur.To = append(ps.cur.To, to)
	r := to
	if o != nil {
		var n []string
		for _, v := range o.Notify {
			n = append(n, string(v))
		}
		if len(n) > 0 {
			r += " NOTIFY=" + strings.Join(n, ",")
		}
		if o.OriginalRecipient != "" {
			r += " ORCPT=" + string(o.OriginalRecipientType) + ";" + strings.Clone(o.OriginalRecipient)
		}
	}
	ps.cur.Rcpts = append(ps.cur.Rcpts, r)
	return nil
}

func (ps *paramSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ps.cur.Data = b
	ps.s.mu.Lock()
	ps.s.msgs = append(ps.s.msgs, ps.cur)
	ps.s.mu.Unlock()
	return nil
}

func (ps *paramSession) Reset()        {}
func (ps *paramSession) Logout() error { return nil }

func startParamSink(t *testing.T, addr string, dsn bool) (*paramSink, int) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	sk := &paramSink{}
	srv := smtp.NewServer(sk)
	srv.Domain = "sink.test"
	srv.EnableDSN = dsn
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sk, ln.Addr().(*net.TCPAddr).Port
}

// receiptRun is what the real sendmail did with the receipt scenario.
type receiptRun struct {
	plain, dsn []paramMsg        // what each sink received
	qf         map[string]string // qf file name → the qf as queued
	qfNames    []string          // in smtpIn's order
	log        []string          // the syslog lines
	dir        string            // the run's directory
	// mailq is sendmail -bp's listing of the queued messages, ourMailq
	// internal/queue's listing of the same files.
	mailq, ourMailq []byte
	// mailqV and ourMailqV are the same with -v.
	mailqV, ourMailqV []byte
}

// smtpIn are the -bs transactions that queue the scenario's messages,
// with RET and ENVID on MAIL and NOTIFY (mostly SUCCESS) on recipients.
var smtpIn = []string{
	"MAIL From:<sender@sender.example> RET=HDRS ENVID=env+2Blocal\r\nRCPT To:<nobody@mail.hamap.local> NOTIFY=SUCCESS ORCPT=rfc822;nobody+2Bo@mail.hamap.local\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test local\r\nMessage-ID: <local@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example> ENVID=env-prog\r\nRCPT To:<prog@mail.hamap.local> NOTIFY=SUCCESS\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test prog\r\nMessage-ID: <prog@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example> RET=FULL\r\nRCPT To:<filer@mail.hamap.local> NOTIFY=SUCCESS,FAILURE\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test file\r\nMessage-ID: <file@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example> RET=FULL ENVID=env-plain\r\nRCPT To:<friend@plain.example> NOTIFY=SUCCESS\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test plain\r\nMessage-ID: <plain@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example> RET=HDRS ENVID=env+2Bdsn\r\nRCPT To:<friend@dsn.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;friend+2Bo@dsn.example\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test dsn\r\nMessage-ID: <dsn@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example>\r\nRCPT To:<nobody@mail.hamap.local> NOTIFY=SUCCESS\r\nRCPT To:<broken@mail.hamap.local>\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test mixfail\r\nMessage-ID: <mixfail@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example>\r\nRCPT To:<nobody@mail.hamap.local> NOTIFY=SUCCESS\r\nRCPT To:<later@mail.hamap.local> NOTIFY=SUCCESS\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test mixdefer\r\nMessage-ID: <mixdefer@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example>\r\nRCPT To:<team@mail.hamap.local> NOTIFY=SUCCESS\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test expand\r\nMessage-ID: <expand@sender.example>\r\n\r\nHello.\r\n.\r\n",
	"MAIL From:<sender@sender.example>\r\nRCPT To:<single@mail.hamap.local> NOTIFY=SUCCESS\r\nDATA\r\n" +
		"From: sender@sender.example\r\nSubject: test single\r\nMessage-ID: <single@sender.example>\r\n\r\nHello.\r\n.\r\n",
}

// runRealReceipts has the real sendmail queue smtpIn's messages over
// SMTP (sendmail -bs, one session each), keeps their qf files and lists
// them with -bp, then runs the queue: recipients are a local mailbox, a
// |program alias, a /file alias, a relay to a server without DSN and one
// to a server with DSN, a mailbox beside a failing program and beside a
// deferring one, and aliases of two mailboxes and of one.
func runRealReceipts(t *testing.T) receiptRun {
	t.Helper()
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	testutil.Oracle(t, "unshare", "util-linux")
	testutil.Oracle(t, "procmail", "procmail")
	testutil.RequireRoot(t, "the real sendmail runs its queue as root")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal(err)
		}
		t.Skip("sendmail-cf not installed")
	}
	plain, port := startParamSink(t, "127.0.0.13:0", false)
	dsnSink, _ := startParamSink(t, "127.0.0.16:"+strconv.Itoa(port), true)

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
	mc := strings.Replace(realMC, "[127.0.0.13]", "[%s]", 1)
	for name, host := range map[string]string{"plain": "127.0.0.13", "dsn": "127.0.0.16"} {
		write(name+".mc", fmt.Sprintf(mc, host, port), 0o644)
		cfText, err := exec.Command(m4, filepath.Join(dir, name+".mc")).Output()
		if err != nil {
			t.Fatalf("m4: %v", err)
		}
		write(name+".cf", string(cfText), 0o644)
	}
	write("hosts", "127.0.0.1 mail.hamap.local mail localhost\n127.0.0.13 sink.test\n127.0.0.14 sender.example\n127.0.0.16 dsn.sink.test\n127.0.0.17 plain.example\n127.0.0.18 dsn.example\n", 0o644)
	write("resolv.conf", "nameserver 127.0.0.1\n", 0o644)
	write("aliases", "postmaster: root\nmailer-daemon: postmaster\nroot: root@sink.test\n"+
		"prog: \"|/bin/cat >/dev/null\"\nfiler: "+dir+"/file.out\nlater: \"|/bin/sh -c 'exit 75'\"\nbroken: \"|/bin/false\"\nteam: nobody, daemon\nsingle: nobody\n", 0o644)
	write("file.out", "", 0o644)
	// Delivered as DefaultUser (daemon, uid 1): the alias file is root's.
	os.Chown(filepath.Join(dir, "file.out"), 1, 1)
	for i, tr := range smtpIn {
		// One session per message, as sendmail -bs reuses some of a
		// transaction's state in the next one of the same session.
		write(fmt.Sprintf("smtp%d.in", i), strings.ReplaceAll("EHLO client.example\r\n"+tr+"QUIT\r\n", "\r\n", "\n"), 0o644)
	}
	for _, d := range []string{"mqueue", "root", "spool", "qf", "snap"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "spool"), 0o1777)
	logs := testutil.Syslog(t, filepath.Join(dir, "log.sock"))
	script := fmt.Sprintf(`set -e
for f in resolv.conf hosts; do mount --bind %[1]s/$f /etc/$f; done
mount --bind %[1]s/root /root
mount --bind %[1]s/spool /var/mail
hostname mail.hamap.local
mkdir %[1]s/realdev
mount --bind /dev %[1]s/realdev
mount -t tmpfs tmpfs /dev
for f in null zero random urandom full tty; do touch /dev/$f; mount --bind %[1]s/realdev/$f /dev/$f; done
touch /dev/log
mount --bind %[1]s/log.sock /dev/log
O="-O QueueDirectory=%[1]s/mqueue -O AliasFile=%[1]s/aliases -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe -O QueueLA=10000 -O RefuseLA=10000"
P="%[2]s -C %[1]s/plain.cf $O"
D="%[2]s -C %[1]s/dsn.cf $O"
$P -bi >/dev/null
for i in %[1]s/smtp*.in; do
	while IFS= read -r l; do sleep 0.05; printf '%%s\r\n' "$l"; done < $i | $P -odq -bs
done
for f in %[1]s/mqueue/qf*; do cp $f %[1]s/qf/; done
cp -p %[1]s/mqueue/* %[1]s/snap/
TZ=UTC $P -bp -O QueueDirectory=%[1]s/snap > %[1]s/mailq.out
TZ=UTC $P -bp -v -O QueueDirectory=%[1]s/snap > %[1]s/mailq-v.out
$D -qRdsn.example
$P -q
sleep 1
$P -q
`, dir, sendmail)
	cmd := exec.Command("unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	t.Logf("sendmail output:\n%s", out)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(plain.got())+len(dsnSink.got()) < 10 {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	run := receiptRun{plain: plain.got(), dsn: dsnSink.got(), qf: map[string]string{}, log: logs(), dir: dir}
	ents, _ := os.ReadDir(filepath.Join(dir, "qf"))
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(dir, "qf", n))
		run.qf[n] = string(b)
	}
	// In the order of smtpIn: queue ids do not sort by time.
	tagOf := func(n string) int {
		for i, tag := range []string{"local", "prog", "file", "plain", "dsn", "mixfail", "mixdefer", "expand", "single"} {
			if strings.Contains(run.qf[n], "Subject: test "+tag+"\n") {
				return i
			}
		}
		return -1
	}
	sort.Slice(names, func(i, j int) bool { return tagOf(names[i]) < tagOf(names[j]) })
	run.qfNames = names
	run.mailq, _ = os.ReadFile(filepath.Join(dir, "mailq.out"))
	var ours bytes.Buffer
	if _, err := queue.List(&ours, filepath.Join(dir, "snap"), queue.ListOptions{Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	run.ourMailq = ours.Bytes()
	run.mailqV, _ = os.ReadFile(filepath.Join(dir, "mailq-v.out"))
	var oursV bytes.Buffer
	if _, err := queue.List(&oursV, filepath.Join(dir, "snap"), queue.ListOptions{Location: time.UTC, Verbose: true}); err != nil {
		t.Fatal(err)
	}
	run.ourMailqV = oursV.Bytes()
	return run
}

// receiptName names a message of the receipt scenario after the golden
// file it is kept in: the notification about the message tagged "test
// <tag>", or the relayed message itself.
func receiptName(m paramMsg) string {
	tag := ""
	if i := strings.Index(string(m.Data), "\nSubject: test "); i >= 0 {
		tag, _, _ = strings.Cut(string(m.Data[i+len("\nSubject: test "):]), "\n")
		tag = strings.TrimSpace(tag)
	}
	if m.From != "" {
		return "relay-" + tag
	}
	return "receipt-" + tag
}

// TestRealReceipts runs the receipt scenario with the real sendmail and
// compares its return receipts with what Report writes for the same
// deliveries; with -update it rewrites the vectors: the receipts, the
// qf lines the messages were queued with (F, Z, Q, r and R), and the
// parameters the DSN-capable server was given.
func TestRealReceipts(t *testing.T) {
	run := runRealReceipts(t)
	got := map[string][]byte{}
	for _, m := range append(run.plain, run.dsn...) {
		name := receiptName(m)
		if m.From != "" {
			continue
		}
		if len(m.To) != 1 || m.To[0] != "sender@sender.example" {
			t.Errorf("%s: to=%v, want sender@sender.example", name, m.To)
		}
		got[name] = mask(bytes.ReplaceAll(m.Data, []byte(run.dir), []byte("/WORK")))
	}
	var params strings.Builder
	for _, m := range run.dsn {
		fmt.Fprintf(&params, "MAIL From:<%s> RET=%s ENVID=%s\n", m.From, m.Ret, m.EnvID)
		for _, r := range m.Rcpts {
			fmt.Fprintf(&params, "RCPT To:<%s>\n", r)
		}
	}
	var qf strings.Builder
	for _, name := range run.qfNames {
		for _, l := range strings.Split(run.qf[name], "\n") {
			if l != "" && strings.IndexByte("FZQrR", l[0]) >= 0 {
				qf.WriteString(l + "\n")
			}
		}
		qf.WriteString(".\n")
	}
	if *update {
		for name, b := range got {
			if err := os.WriteFile(filepath.Join("testdata", "real-"+name+".eml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join("testdata", "real-receipt-relay-params.txt"), []byte(params.String()), 0o644)
		os.WriteFile(filepath.Join("testdata", "real-receipt-qf.txt"), []byte(qf.String()), 0o644)
	}
	for _, tc := range receiptCases() {
		t.Run(tc.name, func(t *testing.T) {
			want, ok := got[tc.name]
			if !ok {
				t.Fatalf("the real sendmail sent no %s (log:\n%s)", tc.name, strings.Join(run.log, "\n"))
			}
			compare(t, want, tc.r)
		})
	}
	// RET, ENVID and NOTIFY do not show in mailq: the listing of the
	// real sendmail's own queue files is the same from both.
	if !bytes.Contains(run.mailq, []byte("Total requests: 9")) {
		t.Errorf("sendmail -bp:\n%s", run.mailq)
	}
	if d := cmp.Diff(string(run.mailq), string(run.ourMailq)); d != "" {
		t.Errorf("mailq of the real queue (-sendmail +ours):\n%s", d)
	}
	if d := cmp.Diff(string(run.mailqV), string(run.ourMailqV)); d != "" {
		t.Errorf("mailq -v of the real queue (-sendmail +ours):\n%s", d)
	}
	if _, ok := got["receipt-dsn"]; ok {
		t.Errorf("the real sendmail sent a receipt for a recipient relayed to a DSN server")
	}
	for _, f := range []struct{ name, got string }{{"real-receipt-relay-params.txt", params.String()}, {"real-receipt-qf.txt", qf.String()}} {
		want, err := os.ReadFile(filepath.Join("testdata", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), f.got); d != "" {
			t.Errorf("%s differs from this run (-vector +run):\n%s", f.name, d)
		}
	}
	for _, re := range []string{`: \w{14}: DSN: Return receipt$`} {
		n := 0
		for _, l := range run.log {
			if regexp.MustCompile(re).MatchString(l) {
				n++
			}
		}
		if n != 7 {
			t.Errorf("%d log lines match %s, want 7:\n%s", n, re, strings.Join(run.log, "\n"))
		}
	}
}
