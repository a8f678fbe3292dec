// SPDX-License-Identifier: MIT

package test

// TestRunbook follows the seed runbook (shared/reference/seed-runbook-ko.md)
// literally against the built binaries, with the real Debian clients the
// runbook's users have: the mc edit compiled with mc2cf (and GNU m4 when
// present, which must give the same cf), the access file compiled with
// makemap hash, users a and b, dovecot.conf with protocols = imap pop3 and
// the mbox mail_location; sendmaild and dovecotd on mail.hamap.local's
// address (127.0.0.61, ports 25, 143 and 110); a sends to b with swaks and
// with sendmail -t -i; b reads over IMAP (curl, python3 imaplib, s-nail)
// and POP3 (curl, fetchmail); an IDLE session sees new mail; relaying works
// from the trusted PC and fails with "Relaying denied" from elsewhere; a
// second server reached by MX receives relayed mail (relay_test.go). Each
// step is a subtest and the suite prints a PASS/FAIL/SKIP table.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// runbook is the state the steps share.
type runbook struct {
	sum   *summary
	sb    *sandbox
	bin   string
	dir   string
	mx1   *site
	token string // makes this run's subjects unique
	conf  string // mail.hamap.local's dovecot.conf
}

func TestRunbook(t *testing.T) {
	rb := &runbook{sum: &summary{}}
	t.Cleanup(func() { rb.sum.report(t) })
	testutil.RequireRoot(t, "the suite runs the daemons in private mount namespaces with a loopback-only resolver and binds ports 25, 53, 110 and 143 on addresses it owns")
	rb.bin = binDir(t)
	// Under the checkout, not under /tmp: makemap and sendmaild refuse
	// or warn about maps below a world-writable directory, as Sendmail's
	// do. (The name matches .gitignore's /.demo*/.)
	dir, err := os.MkdirTemp(testutil.RepoRoot(t), ".demo-runbook-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// dovecotd's mail processes run as the users: they must reach the
	// spool and their homes.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rb.dir = dir
	rb.sb = newSandbox(t, rb.dir)
	tok := make([]byte, 4)
	rand.Read(tok)
	rb.token = hex.EncodeToString(tok)
	// The network's DNS: each domain's MX, the servers' and the named
	// clients' addresses (with PTR records). The trusted PC and one
	// untrusted client have no reverse name.
	dns := rb.sb.dns
	dns.AddMX("hamap.local", "mail.hamap.local", 10)
	dns.AddA("mail.hamap.local", ipMX1)
	dns.AddMX("other.local", "mail.other.local", 10)
	dns.AddA("mail.other.local", ipMX2)
	dns.AddA("pc65.elsewhere.example", ipElsewhere)
	dns.AddA("pc66.hamap.local", ipHamapPC)
	rb.mx1 = newSite(t, rb.sb, rb.bin, filepath.Join(rb.dir, "hamap"), "mail.hamap.local", "hamap.local", ipMX1)

	s := rb.sum
	cfg := s.step(t, "1 sendmail.mc -> mc2cf (= m4); access -> makemap; aliases -> newaliases", nil, rb.stepConfigure)
	users := s.step(t, "2 users a, b; mail spool; dovecot.conf", nil, rb.stepUsers)
	up := s.step(t, "3 start sendmaild and dovecotd", []bool{cfg, users}, rb.stepStart)
	sent := s.step(t, "4 a -> b", []bool{up}, func(t *testing.T) {
		s.step(t, "swaks", nil, rb.stepSwaks)
		s.step(t, "sendmail -t -i", nil, rb.stepSendmailT)
	})
	s.step(t, "5 b reads", []bool{sent}, func(t *testing.T) {
		s.step(t, "IMAP curl", nil, rb.stepCurlIMAP)
		s.step(t, "IMAP s-nail", nil, rb.stepSNail)
		s.step(t, "POP3 curl", nil, rb.stepCurlPOP3)
		s.step(t, "POP3 fetchmail", nil, rb.stepFetchmail)
		s.step(t, "IMAP imaplib: mark read, delete, expunge", nil, rb.stepImaplib)
	})
	s.step(t, "6 IDLE sees the next message within 1 s", []bool{up}, rb.stepIdle)
	s.step(t, "7 relaying: trusted 250, untrusted Relaying denied", []bool{up}, rb.stepRelayPolicy)
	s.step(t, "8 second server by MX", []bool{up}, rb.stepMX)
}

// stepConfigure: the runbook's §3 and §4 sendmail side.
func (rb *runbook) stepConfigure(t *testing.T) {
	s := rb.mx1
	s.configure(t, ipPC)
	cf := readFile(t, s.cf())
	for _, want := range []string{
		"O DaemonPortOptions=Port=smtp,Addr=" + ipMX1 + ", Name=MTA\n",
		"Kaccess hash -T<TMPF> -o " + s.path("etc/mail/access.db") + "\n",
		"Fw-o " + s.path("etc/mail/local-host-names") + "\n",
	} {
		if !strings.Contains(cf, want) {
			t.Errorf("mc2cf's sendmail.cf lacks %q", want)
		}
	}
	// The compiled access map holds the runbook's RELAY line.
	out := s.runOK(t, "", filepath.Join(rb.bin, "makemap"), "-u", "hash", s.path("etc/mail/access"))
	if !strings.Contains(out, "connect:"+ipPC+"\tRELAY\n") || !strings.Contains(out, "connect:hamap.local\tRELAY\n") {
		t.Errorf("makemap -u hash access lacks the RELAY lines:\n%s", out)
	}
	rb.sum.step(t, "m4", nil, func(t *testing.T) {
		m4 := testutil.Oracle(t, "m4", "m4")
		if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
			if _, err := os.Stat("/usr/share/sendmail-cf/m4/cf.m4"); err != nil {
				if testutil.InCI() {
					t.Fatal("sendmail-cf is not installed")
				}
				t.Skip("sendmail-cf is not installed (Debian package sendmail-cf)")
			}
		}
		// m4 /etc/mail/sendmail.mc > /etc/mail/sendmail.cf, as the runbook says.
		want, errs, rc := run(t, s.path("etc/mail"), nil, nil, m4, s.path("etc/mail/sendmail.mc"))
		if rc != 0 || errs != "" {
			t.Fatalf("m4 sendmail.mc: exit %d, stderr:\n%s", rc, errs)
		}
		if d := cmp.Diff(cfLines(want), cfLines(cf)); d != "" {
			t.Errorf("sendmail.cf from m4 and from mc2cf differ (-m4 +mc2cf):\n%s", d)
		}
	})
}

// stepUsers: useradd a, b; passwd a, b; the seed's dovecot.conf.
func (rb *runbook) stepUsers(t *testing.T) {
	rb.mx1.addUsers(t)
	shadow := readFile(t, rb.mx1.path("etc/shadow"))
	m := regexp.MustCompile(`(?m)^b:(\$(y|6)\$)`).FindStringSubmatch(shadow)
	if m == nil {
		t.Fatalf("shadow has no crypt hash for b:\n%s", shadow)
	}
	t.Logf("password hashes: %s (yescrypt is Debian's default; $6$ when no libxcrypt front end was found)", m[1])
	rb.conf = rb.mx1.writeDovecot(t)
	// dovecotd -n shows the runbook's settings.
	out, errs, rc := run(t, rb.dir, rb.mx1.env(), nil, filepath.Join(rb.bin, "dovecotd"), "-n", "-c", rb.conf)
	if rc != 0 {
		t.Fatalf("dovecotd -n: exit %d\n%s%s", rc, out, errs)
	}
	for _, want := range []string{"protocols = imap pop3", "listen = " + ipMX1, "mail_location = mbox:~/mail:INBOX=" + rb.mx1.path("var/mail") + "/%u"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("dovecotd -n lacks %q:\n%s", want, out)
		}
	}
}

// stepStart: systemctl enable --now sendmail dovecot, first with Rocky's
// DAEMON_OPTIONS (loopback only: the PC is refused, the runbook's
// "connection refused"), then, after the runbook's mc edit and compile,
// restarted on the server's address.
func (rb *runbook) stepStart(t *testing.T) {
	s := rb.mx1
	rb.sum.step(t, "before the mc edit: loopback only, the PC gets connection refused", nil, func(t *testing.T) {
		mc, cf := s.path("etc/mail/pre-edit.mc"), s.path("etc/mail/pre-edit.cf")
		write(t, mc, s.sendmailMCOn(t, ipLoopback), 0o644)
		s.runOK(t, "", filepath.Join(s.bin, "mc2cf"), "-o", cf, mc)
		d := s.sb.startDaemon(t, t, s.host, s.env(), []string{net.JoinHostPort(ipLoopback, "25")},
			filepath.Join(s.bin, "sendmaild"), "-bd", "-C", cf, "-L", s.maillog())
		defer d.stop(t)
		// A full SMTP greeting on the loopback address before the stop
		// (sendmaild installs its SIGTERM handler only after it listens).
		if l := dialLine(t, net.JoinHostPort(ipLoopback, "25")); !strings.HasPrefix(l, "220 ") {
			t.Errorf("greeting on %s:25: %q", ipLoopback, l)
		}
		dl := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipPC)}}
		c, err := dl.Dial("tcp", net.JoinHostPort(ipMX1, "25"))
		if err == nil {
			c.Close()
			t.Fatalf("%s:25 accepted a connection while the daemon listens on %s only", ipMX1, ipLoopback)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s:25: %v, want connection refused", ipMX1, err)
		}
	})
	s.startSendmaild(t)
	rb.mx1.startDovecotd(t, rb.conf)
	banner := dialLine(t, ipMX1+":25")
	if !regexp.MustCompile(`^220 mail\.hamap\.local ESMTP Sendmail 8\.17\.1\.9/8\.17\.1\.9; \w{3}, \d+ \w{3} \d{4} \d\d:\d\d:\d\d `).MatchString(banner) {
		t.Errorf("SMTP banner %q, want Sendmail's for mail.hamap.local", banner)
	}
	if got, want := dialLine(t, ipMX1+":110"), "+OK Dovecot (Debian) ready."; got != want {
		t.Errorf("POP3 greeting %q, want %q", got, want)
	}
	if got := dialLine(t, ipMX1+":143"); !strings.HasSuffix(got, "] Dovecot (Debian) ready.") {
		t.Errorf("IMAP greeting %q", got)
	}
}

// dialLine connects to addr from the trusted PC's address and returns the
// server's first line.
func dialLine(t *testing.T, addr string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipPC)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return strings.TrimRight(l, "\r\n")
}

// swaks runs swaks from source address src against server:25 with args.
func (rb *runbook) swaks(t *testing.T, src, server string, args ...string) (string, int) {
	t.Helper()
	swaks := testutil.Oracle(t, "swaks", "swaks")
	argv := append([]string{"--server", server, "--port", "25", "--local-interface", src, "--ehlo", "[" + src + "]", "--timeout", "30"}, args...)
	return rb.sb.run(t, rb.mx1.env(), "", swaks, argv...)
}

var reAccepted = regexp.MustCompile(`(?m)^<-  250 2\.0\.0 (\w{14}) Message accepted for delivery\r?$`)

// sendSwaks sends a message with swaks from src through server and returns
// its queue ID.
func (rb *runbook) sendSwaks(t *testing.T, src, server, from, to, subject, body string) string {
	t.Helper()
	bodyFile := filepath.Join(rb.dir, "body-"+rb.token+fmt.Sprint(time.Now().UnixNano()))
	write(t, bodyFile, body, 0o644)
	out, rc := rb.swaks(t, src, server, "--from", from, "--to", to,
		"--header", "Subject: "+subject, "--body", "@"+bodyFile)
	m := reAccepted.FindStringSubmatch(out)
	if rc != 0 || m == nil {
		t.Fatalf("swaks %s -> %s: exit %d, no 250 Message accepted:\n%s", from, to, rc, out)
	}
	return m[1]
}

// stepSwaks: a -> b with swaks from the trusted PC, as Thunderbird sends.
func (rb *runbook) stepSwaks(t *testing.T) {
	s := rb.mx1
	subject := "Hello b from a " + rb.token
	qid := rb.sendSwaks(t, ipPC, ipMX1, "a@hamap.local", "b@hamap.local", subject,
		"Hello,\n\nFrom a: this travelled over SMTP port 25 without SSL, like Thunderbird.\n.this line starts with a dot\n")
	mb := s.waitMbox(t, "b", subject)
	for _, re := range []string{
		`(?m)^From a@hamap\.local  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n`,
		`(?m)^Return-Path: <a@hamap\.local>\n` +
			`Received: from \[` + regexp.QuoteMeta(ipPC) + `\] \(\[` + regexp.QuoteMeta(ipPC) + `\]\)\n` +
			`\tby mail\.hamap\.local \(8\.17\.1\.9/8\.17\.1\.9\) with ESMTP id ` + qid + `\n` +
			`\tfor <b@hamap\.local>; .+ GMT\n`,
		`(?m)^>From a: this travelled`,
		`(?m)^\.this line starts with a dot$`,
	} {
		if !regexp.MustCompile(re).MatchString(mb) {
			t.Errorf("b's mailbox does not match %s:\n%s", re, mb)
		}
	}
	s.waitLog(t, qid+`: from=<a@hamap\.local>, size=\d+, class=0, nrcpts=1, msgid=<[^>]+>, proto=ESMTP, daemon=MTA, relay=\[`+regexp.QuoteMeta(ipPC)+`\]`)
	s.waitLog(t, qid+`: to=<b@hamap\.local>, ctladdr=<a@hamap\.local> \(1023/100\), delay=\d\d:\d\d:\d\d, xdelay=\d\d:\d\d:\d\d, mailer=local, pri=\d+, dsn=2\.0\.0, stat=Sent`)
}

// stepSendmailT: a -> b with sendmail -t -i on the server (sendmaild's
// sendmail personality, as root).
func (rb *runbook) stepSendmailT(t *testing.T) {
	s := rb.mx1
	subject := "from the command line " + rb.token
	msg := "From: a@hamap.local\nTo: b@hamap.local\nSubject: " + subject + "\n\nsent with sendmail -t -i\n.\nthe dot above stays\n"
	out, rc := rb.sb.runAs(t, s.host, s.env(), msg, filepath.Join(s.sbin, "sendmail"), "-C", s.cf(), "-L", s.maillog(), "-t", "-i")
	if rc != 0 || out != "" {
		t.Fatalf("sendmail -t -i: exit %d, output %q", rc, out)
	}
	mb := s.waitMbox(t, "b", subject)
	for _, re := range []string{
		`(?m)^From root  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <root@mail\.hamap\.local>\nReceived: \(from root@localhost\)\n\tby mail\.hamap\.local \(8\.17\.1\.9/8\.17\.1\.9\) id \w{14};\n\t.+ GMT\n`,
		`(?m)^Message-Id: <\d{12}\.\w{14}@mail\.hamap\.local>$`,
		`\nsent with sendmail -t -i\n\.\nthe dot above stays\n`,
	} {
		if !regexp.MustCompile(re).MatchString(mb) {
			t.Errorf("b's mailbox does not match %s:\n%s", re, mb)
		}
	}
}

// stepCurlIMAP: curl imap:// lists b's INBOX and fetches both messages.
func (rb *runbook) stepCurlIMAP(t *testing.T) {
	curl := testutil.Oracle(t, "curl", "curl")
	base := "imap://" + ipMX1 + "/INBOX"
	out, rc := rb.sb.run(t, rb.mx1.env(), "", curl, "-sS", "--interface", ipPC, "--user", "b:b-secret", base, "-X", "UID SEARCH ALL")
	if rc != 0 || strings.TrimSpace(out) != "* SEARCH 1 2" {
		t.Fatalf("curl %s -X 'UID SEARCH ALL': exit %d:\n%s", base, rc, out)
	}
	rb.mx1.waitFile(t, "var/log/dovecot.log", `imap-login: Login: user=<b>, method=PLAIN, rip=`+regexp.QuoteMeta(ipPC)+`, lip=`+regexp.QuoteMeta(ipMX1)+`, mpid=\d+, session=<[^>]+>`)
	for uid, want := range map[int]string{1: "Subject: Hello b from a " + rb.token, 2: "Subject: from the command line " + rb.token} {
		out, rc := rb.sb.run(t, rb.mx1.env(), "", curl, "-sS", "--interface", ipPC, "--user", "b:b-secret", fmt.Sprintf("%s;UID=%d", base, uid))
		if rc != 0 || !strings.Contains(out, want+"\r\n") || !strings.HasPrefix(out, "Return-Path: ") {
			t.Errorf("curl %s;UID=%d: exit %d, want the message with %q:\n%s", base, uid, rc, want, out)
		}
	}
}

// stepSNail: s-nail (mailx) in batch mode opens b's INBOX over IMAP
// read-only and prints both messages.
func (rb *runbook) stepSNail(t *testing.T) {
	snail := testutil.Oracle(t, "s-nail", "s-nail")
	env := append(rb.mx1.env(), "MAILRC=/dev/null")
	out, rc := rb.sb.run(t, env, "print 1\nprint 2\nquit\n", snail, "-#", "-n", "-R",
		"-S", "v15-compat", "-S", "password-b@"+ipMX1+"=b-secret", "-S", "imap-auth=login",
		"-f", "imap://b@"+ipMX1)
	for _, want := range []string{"Subject: Hello b from a " + rb.token, ">From a: this travelled",
		"Subject: from the command line " + rb.token, "sent with sendmail -t -i"} {
		if !strings.Contains(out, want) {
			t.Errorf("s-nail output lacks %q (exit %d):\n%s", want, rc, out)
		}
	}
	if rc != 0 {
		t.Errorf("s-nail: exit %d\n%s", rc, out)
	}
}

// stepCurlPOP3: curl pop3:// lists and retrieves b's mail (kept).
func (rb *runbook) stepCurlPOP3(t *testing.T) {
	curl := testutil.Oracle(t, "curl", "curl")
	base := "pop3://" + ipMX1 + "/"
	out, rc := rb.sb.run(t, rb.mx1.env(), "", curl, "-sS", "--interface", ipPC, "--user", "b:b-secret", base)
	if rc != 0 || !regexp.MustCompile(`^1 \d+\r\n2 \d+\r\n$`).MatchString(out) {
		t.Fatalf("curl %s (LIST): exit %d:\n%q", base, rc, out)
	}
	rb.mx1.waitFile(t, "var/log/dovecot.log", `pop3-login: Login: user=<b>, method=PLAIN, rip=`+regexp.QuoteMeta(ipPC)+`, lip=`+regexp.QuoteMeta(ipMX1)+`, mpid=\d+, session=<[^>]+>`)
	out, rc = rb.sb.run(t, rb.mx1.env(), "", curl, "-sS", "--interface", ipPC, "--user", "b:b-secret", base+"2")
	if rc != 0 || !strings.Contains(out, "Subject: from the command line "+rb.token+"\r\n") || !strings.Contains(out, "\r\n.\r\nthe dot above stays") {
		t.Errorf("curl %s2 (RETR): exit %d:\n%s", base, rc, out)
	}
}

// stepFetchmail: fetchmail downloads b's two messages over POP3 (keep).
func (rb *runbook) stepFetchmail(t *testing.T) {
	fetchmail := testutil.Oracle(t, "fetchmail", "fetchmail")
	work := filepath.Join(rb.dir, "fetchmail")
	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(work, "fetchmailrc")
	write(t, rc, fmt.Sprintf(`set no bouncemail
poll %s protocol pop3 auth password timeout 20
  user "b" password "b-secret"
  keep fetchall sslproto ''
  mda "/bin/sh -c 'cat > $(mktemp %s/msg.XXXXXX)'"
`, ipMX1, out), 0o600)
	env := append(rb.mx1.env(), "FETCHMAILHOME="+work)
	transcript, code := rb.sb.run(t, env, "", fetchmail, "-f", rc, "-v", "--nosyslog", "--idfile", filepath.Join(work, "ids"))
	if code != 0 {
		t.Fatalf("fetchmail: exit %d\n%s", code, transcript)
	}
	got := readDelivered(t, out)
	if len(got) != 2 {
		t.Fatalf("fetchmail delivered %d messages, want 2:\n%s", len(got), transcript)
	}
	all := got[0].Header + got[1].Header
	for _, want := range []string{"Subject: Hello b from a " + rb.token, "Subject: from the command line " + rb.token} {
		if !strings.Contains(all, want+"\n") {
			t.Errorf("fetchmail's messages lack %q:\n%s", want, all)
		}
	}
	if !strings.Contains(transcript, "2 messages for b at "+ipMX1) {
		t.Errorf("fetchmail did not report 2 messages:\n%s", transcript)
	}
}

// stepImaplib: python3 imaplib marks message 1 read, deletes message 2
// and expunges; the mbox file then holds only message 1, flagged RO.
func (rb *runbook) stepImaplib(t *testing.T) {
	py := debianPython()
	if py == "" {
		testutil.Oracle(t, "python3", "python3")
	}
	script := `import imaplib, sys
m = imaplib.IMAP4(sys.argv[1], 143)
m.login("b", "b-secret")
typ, data = m.select("INBOX")
print("select", typ, data[0].decode())
print("search", m.search(None, "ALL")[1][0].decode())
print("seen", m.store("1", "+FLAGS", "\\Seen")[0])
print("deleted", m.store("2", "+FLAGS", "\\Deleted")[0])
typ, data = m.expunge()
print("expunge", typ, [d.decode() for d in data if d])
print("after", m.search(None, "ALL")[1][0].decode())
print("unseen", m.search(None, "UNSEEN")[1][0].decode() or "-")
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print("subject", data[0][1].decode().strip())
m.logout()
`
	out, rc := rb.sb.run(t, rb.mx1.env(), "", py, "-c", script, ipMX1)
	want := "select OK 2\nsearch 1 2\nseen OK\ndeleted OK\nexpunge OK ['2']\nafter 1\nunseen -\nsubject Subject: Hello b from a " + rb.token + "\n"
	if rc != 0 || out != want {
		t.Fatalf("imaplib session: exit %d\n%s", rc, cmp.Diff(want, out))
	}
	mb := readFile(t, rb.mx1.mbox("b"))
	if strings.Contains(mb, "from the command line "+rb.token) {
		t.Errorf("the expunged message is still in b's mailbox:\n%s", mb)
	}
	if !regexp.MustCompile(`(?m)^X-UID: 1 *\nStatus: RO\n`).MatchString(mb) {
		t.Errorf("message 1 is not marked read (Status: RO) in b's mailbox:\n%s", mb)
	}
}

// stepIdle: an IMAP session in IDLE sees a message delivered to b while it
// waits: "* N EXISTS" arrives within 1 s of swaks's end (the anchor: well
// within 1 s of delivery, not at the 30 s check).
func (rb *runbook) stepIdle(t *testing.T) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipPC)}}
	c, err := d.Dial("tcp", ipMX1+":143")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	readUntil := func(prefix string) []string {
		t.Helper()
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("IMAP: waiting for %q: %v; got %q", prefix, err, lines)
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			if strings.HasPrefix(l, prefix) {
				return lines
			}
		}
	}
	readUntil("* OK")
	fmt.Fprintf(c, "i1 LOGIN b b-secret\r\n")
	if l := readUntil("i1 "); !strings.HasPrefix(l[len(l)-1], "i1 OK") {
		t.Fatalf("LOGIN: %q", l)
	}
	fmt.Fprintf(c, "i2 SELECT INBOX\r\n")
	exists := -1
	reExists := regexp.MustCompile(`^\* (\d+) EXISTS$`)
	for _, l := range readUntil("i2 ") {
		if m := reExists.FindStringSubmatch(l); m != nil {
			fmt.Sscan(m[1], &exists)
		}
	}
	if exists < 0 {
		t.Fatal("SELECT gave no EXISTS")
	}
	fmt.Fprintf(c, "i3 IDLE\r\n")
	if l := readUntil("+ "); l[len(l)-1] != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	subject := "second message " + rb.token
	rb.sendSwaks(t, ipPC, ipMX1, "a@hamap.local", "b@hamap.local", subject, "the IDLE session should see this\n")
	sent := time.Now()
	c.SetReadDeadline(sent.Add(5 * time.Second))
	want := fmt.Sprintf("* %d EXISTS", exists+1)
	lines := readUntil(want)
	elapsed := time.Since(sent)
	t.Logf("IDLE: %q %v after swaks's 250", lines, elapsed.Round(time.Millisecond))
	if elapsed > time.Second {
		t.Errorf("IDLE saw the new message %v after it was accepted, want within 1 s", elapsed.Round(time.Millisecond))
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "DONE\r\n")
	// Dovecot says "i3 OK Idle completed (0.621 + 0.619 + 0.620 secs)."; go-imap's
	// text is fixed ("IDLE completed"), so only the status is checked.
	if l := readUntil("i3 "); !strings.HasPrefix(l[len(l)-1], "i3 OK ") {
		t.Errorf("after DONE: %q", l)
	}
	fmt.Fprintf(c, "i4 LOGOUT\r\n")
	readUntil("i4 ")
}

// stepRelayPolicy: the runbook's access rules. The trusted PC (Connect:
// its address RELAY) and a client named in hamap.local (Connect:hamap.local
// RELAY) may relay to an outside domain; other clients get Sendmail's
// "Relaying denied", with ". IP name lookup failed [ip]" when the client
// has no reverse name.
func (rb *runbook) stepRelayPolicy(t *testing.T) {
	const rcpt = "x@outside.example"
	cases := []struct {
		name, src, reply string
	}{
		{"trusted PC", ipPC, "<-  250 2.1.5 <" + rcpt + ">... Recipient ok"},
		{"named in hamap.local", ipHamapPC, "<-  250 2.1.5 <" + rcpt + ">... Recipient ok"},
		{"untrusted, no reverse name", ipNoName, "<** 550 5.7.1 <" + rcpt + ">... Relaying denied. IP name lookup failed [" + ipNoName + "]"},
		{"untrusted, named elsewhere", ipElsewhere, "<** 550 5.7.1 <" + rcpt + ">... Relaying denied"},
	}
	for _, c := range cases {
		rb.sum.step(t, c.name, nil, func(t *testing.T) {
			if got := rb.rcptReply(t, c.src, rcpt); got != c.reply {
				t.Errorf("RCPT TO:<%s> from %s: got %q, want %q", rcpt, c.src, got, c.reply)
			}
		})
	}
	rb.mx1.waitLog(t, regexp.QuoteMeta("ruleset=check_rcpt, arg1=<"+rcpt+">, relay=["+ipNoName+"], reject=550 5.7.1 <"+rcpt+">... Relaying denied. IP name lookup failed ["+ipNoName+"]"))
	// The runbook's troubleshooting: add the client to access as RELAY and
	// run makemap again. No restart: the next connection sees the new map.
	rb.sum.step(t, "fix: add Connect:ip RELAY, makemap, no restart", nil, func(t *testing.T) {
		s := rb.mx1
		access := s.path("etc/mail/access")
		write(t, access, readFile(t, access)+"Connect:"+ipNoName+"\t\t\tRELAY\n", 0o644)
		s.runOK(t, readFile(t, access), filepath.Join(rb.bin, "makemap"), "hash", access)
		if got, want := rb.rcptReply(t, ipNoName, rcpt), "<-  250 2.1.5 <"+rcpt+">... Recipient ok"; got != want {
			t.Errorf("after makemap, RCPT TO:<%s> from %s: got %q, want %q", rcpt, ipNoName, got, want)
		}
	})
}

// rcptReply runs swaks from src up to RCPT TO:<rcpt> and returns the
// reply line to the RCPT command as swaks prints it.
func (rb *runbook) rcptReply(t *testing.T, src, rcpt string) string {
	t.Helper()
	out, _ := rb.swaks(t, src, ipMX1, "--from", "a@hamap.local", "--to", rcpt, "--quit-after", "RCPT")
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, " -> RCPT TO:") && i+1 < len(lines) {
			return strings.TrimRight(lines[i+1], "\r")
		}
	}
	t.Logf("swaks from %s:\n%s", src, out)
	return ""
}
