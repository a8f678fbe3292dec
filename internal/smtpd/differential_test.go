// SPDX-License-Identifier: MIT

package smtpd

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/maillog"
	"mailsuite/internal/testutil"
	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
)

// The real sendmail listens on realIP, ours on oursIP; both are
// mail.hamap.local. The real one runs in its own mount and UTS namespace
// with a private hosts file, nsswitch.conf ("hosts: files"), passwd and a
// resolv.conf naming 127.0.0.1, so it never asks the system's resolver.
const (
	realIP = "127.0.0.21"
	oursIP = "127.0.0.22"
)

const diffAccess = `Connect:127.0.0 RELAY
Connect:hamap.local RELAY
Connect:localhost RELAY
Connect:127.0.0.1 RELAY
To:relayto.example RELAY
From:spammer@bad.example REJECT
From:bad.example ERROR:5.7.9:550 Custom sender error text
To:blocked@hamap.local REJECT
Connect:127.1.0.66 REJECT
Connect:127.1.0.67 ERROR:"421 closing, go away"
Connect:127.1.0.68 ERROR:5.7.1:550 Your network is blocked
Connect:127.1.0.69 DISCARD
From:discard.example DISCARD
`

// diffSession is one connection: a source address and the lines it
// sends (a line "." after DATA ends the message, as in a transcript).
type diffSession struct {
	src   string
	lines []string
}

var diffSessions = []diffSession{
	{trustedIP, []string{"EHLO [127.0.0.20]", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA",
		"Subject: hello\r\n\r\nHello,\r\n..dot\r\n.", "QUIT"}},
	{trustedIP, []string{"HELO somepc", "NOOP", "RSET", "VRFY b", "EXPN b", "FOO bar", "HELO", "EHLO",
		"ETRN hamap.local", "ETRN @hamap.local", "ETRN #mqueue", "ETRN #nosuch", "HELP", "HELP mail", "QUIT"}},
	{trustedIP, []string{"EHLO x", "MAIL FROM:<a>", "MAIL FROM:<a@hamap..local>", "MAIL FROM:<@>", "MAIL FROM:<a@>",
		"MAIL FROM:<a@hamap.local", "MAIL FROM:<a@hamap.local> FOO=BAR", "MAIL TO:<a@hamap.local>", "MAIL FROM",
		"RCPT TO:<b@hamap.local>", "DATA", "MAIL FROM:<a@hamap.local>", "DATA", "MAIL FROM:<b@hamap.local>",
		"RCPT TO:<a@@hamap.local>", "RCPT TO:<nosuchuser@hamap.local>", "RCPT TO:<b>", "RCPT TO:<B@HAMAP.LOCAL>",
		"RCPT TO:<friend@outside.example>", "RCPT TO:<b@mail.hamap.local>", "RCPT TO:<>", "RCPT TO:<@hamap.local>",
		"RCPT TO:<blocked@hamap.local>", "RSET", "QUIT"}},
	{trustedIP, []string{"EHLO x", "MAIL FROM:<>", "RSET", "MAIL FROM:<a@[1.2.3]>", "RSET", "MAIL FROM:a@hamap.local",
		"RSET", "MAIL FROM:<a b@hamap.local>", "RSET", "MAIL FROM:<spammer@bad.example>", "MAIL FROM:<x@bad.example>",
		"MAIL FROM:<x@localhost>", "MAIL FROM:<a@hamap.local> SIZE=100 BODY=8BITMIME", "RSET",
		"MAIL FROM:<a@hamap.local> BODY=9BIT", "MAIL FROM:<a@hamap.local> SIZE=abc", "QUIT"}},
	{trustedIP, []string{"EHLO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<a%outside.example@hamap.local>",
		"RCPT TO:<outside.example!a@hamap.local>", "RCPT TO:<b@hamap.local> NOTIFY=SUCCESS,FAILURE",
		"RCPT TO:<b@hamap.local> FOO=1", "QUIT"}},
	{untrustedIP, relayBatteryLines()},
	{namedIP, []string{"EHLO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<friend@outside.example>", "RCPT TO:<b@hamap.local>", "QUIT"}},
	{hamapIP, []string{"EHLO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<friend@outside.example>", "QUIT"}},
	{"127.1.0.66", []string{"EHLO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA", "QUIT"}},
	{trustedIP, []string{"EHLO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA",
		"Subject: bare\r\n\r\nline\nmore\r\n.", ""}},
	{trustedIP, []string{"EHLO x", "AUTH PLAIN AGIAcGFzcw==", "AUTH LOGIN", "Yg==", "cGFzcw==", "AUTH FOO",
		"AUTH", "AUTH LOGIN", "*", "MAIL FROM:<a@hamap.local>", "AUTH PLAIN", "QUIT"}},
	{trustedIP, []string{"MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "RSET", "HELO",
		"EHLO a", "EHLO b", "EHLO c", "MAIL FROM:<a@hamap.local> SIZE", "MAIL FROM: <a@hamap.local>",
		"RCPT TO: <b@hamap.local>", "RCPT TO:b@hamap.local", "RCPT TO:<\"a b\"@hamap.local>", "DATA",
		"Subject: x\r\n\r\n.", "QUIT"}},
	{untrustedIP, []string{"MAIL FROM:<a@localhost>", "MAIL FROM:<a@[127.0.0.1]>", "MAIL FROM:<a>",
		"MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "RCPT TO:<postmaster>", "RCPT TO:<root@[127.0.0.1]>",
		"RCPT TO:<a@relayto.example>", "RCPT TO:<a%x.example@relayto.example>", "QUIT"}},
	{trustedIP, []string{"EHLO x", "MAIL FROM:<" + strings.Repeat("x", 300) + "@hamap.local>",
		"MAIL FROM:<a(comment)@hamap.local>", "RCPT TO:<b (x)@hamap.local>", "RCPT TO:<\"b\"@hamap.local>",
		"RCPT TO:<b@hamap.local.>", "RCPT TO:<b@[{self}]>", "RCPT TO:<b@[{other}]>", "RCPT TO:<b+x@hamap.local>",
		"RCPT TO:<<b@hamap.local>>", "RCPT TO:<b@hamap.local> x", "RCPT TO:<b@ham ap.local>", "RCPT TO:<b@hamap.local",
		"RCPT TO:<b@\"hamap\".local>", "RCPT TO:<b@hamap,local>", "RCPT TO:<b@ham:ap.local>", "RCPT TO:<@hamap.local:>",
		"RCPT TO:<list: a, b;>", "RCPT TO:<.b@hamap.local>", "RCPT TO:<b.@hamap.local>", "RCPT TO:<b@[1.2.3.4]x>",
		"RCPT TO:<b\\@x@hamap.local>", "QUIT"}},
	{"127.1.0.67", []string{"EHLO x", "QUIT"}},
	{"127.1.0.68", []string{"HELO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "QUIT"}},
	{"127.1.0.69", []string{"EHLO x", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "DATA", "Subject: x\r\n\r\nx\r\n.", "QUIT"}},
	{trustedIP, []string{"EHLO x", "MAIL FROM:<x@discard.example>", "RCPT TO:<b@hamap.local>", "DATA", "Subject: x\r\n\r\nx\r\n.", "QUIT"}},
	{trustedIP, []string{"EHLO x", "VRFY b", "VRFY <b@hamap.local>", "VRFY nosuch", "VRFY friend@outside.example", "VRFY",
		"EXPN b", "EXPN nosuch", "VERB", "QUIT"}},
	{namedIP, []string{"QUIT"}},
	{trustedIP, []string{"EHLO x", "ETRN", "HELP foo", "MAIL FROM:<a@hamap.local> RET=X", "MAIL FROM:<a@hamap.local> RET=FULL RET=HDRS",
		"MAIL FROM:<a@hamap.local> ENVID=", "RSET", "MAIL FROM:<a@hamap.local> ENVID=a ENVID=b", "RSET",
		"MAIL FROM:<a@hamap.local> ENVID=a+zz", "RSET", "MAIL FROM:<a@hamap.local> ENVID=x ENVID=a+zz", "RSET",
		"MAIL FROM:<a@hamap.local> BODY=7BIT RET=HDRS ENVID=x+2By",
		"RCPT TO:<b@hamap.local> NOTIFY=X", "RCPT TO:<b@hamap.local> ORCPT=x", "RCPT TO:<b@hamap.local> ORCPT=rfc822;b+zz@hamap.local",
		"RCPT TO:<b@hamap.local> ORCPT=rfc822;b+2Bx@hamap.local", "RCPT TO:<b@hamap.local> ORCPT=rfc822;b@hamap.local",
		"AUTH PLAIN", "=", "STARTTLS", "MAIL FROM:<a\x01@hamap.local>", "RSET", "MAIL FROM:<a@hamap.local> SIZE=-1", "QUIT"}},
}

func relayBatteryLines() []string {
	lines := []string{"EHLO x", "MAIL FROM:<user@sender.example>"}
	for _, p := range relayProbes {
		lines = append(lines, "RCPT TO:<"+p.rcpt+">")
	}
	return append(lines, "QUIT")
}

var (
	qidRe  = regexp.MustCompile(`\b[0-9A-Za-x]{8}\d{6}\b`)
	dateRx = regexp.MustCompile(`; [A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d (GMT|[-+]\d{4}( \([A-Z]+\))?)`)
)

// transcript runs the sessions against addr and returns the reply lines,
// dates and queue ids masked.
func transcript(t *testing.T, addr string) []string {
	self, _, _ := net.SplitHostPort(addr)
	other := realIP
	if self == realIP {
		other = oursIP
	}
	mask := strings.NewReplacer(self, "{self}", other, "{other}")
	var out []string
	for i, s := range diffSessions {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(s.src)}, Timeout: 10 * time.Second}
		conn, err := d.Dial("tcp4", addr)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReader(conn)
		readReply := func() {
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					out = append(out, fmt.Sprintf("#%d <eof>", i))
					return
				}
				l = strings.TrimRight(l, "\r\n")
				l = mask.Replace(dateRx.ReplaceAllString(qidRe.ReplaceAllString(l, "<QID>"), "; <date>"))
				out = append(out, fmt.Sprintf("#%d %s", i, l))
				if len(l) < 4 || l[3] != '-' {
					return
				}
			}
		}
		readReply()
		inData := false
		for _, line := range s.lines {
			if line == "" {
				break
			}
			line = strings.NewReplacer("{self}", self, "{other}", other).Replace(line)
			if inData {
				fmt.Fprintf(conn, "%s\r\n", line)
				inData = false
				out = append(out, fmt.Sprintf("#%d > (message)", i))
				readReply()
				continue
			}
			fmt.Fprintf(conn, "%s\r\n", line)
			out = append(out, fmt.Sprintf("#%d > %s", i, mask.Replace(line)))
			readReply()
			if line == "DATA" && strings.HasPrefix(out[len(out)-1], fmt.Sprintf("#%d 354", i)) {
				inData = true
			}
		}
		conn.Close()
	}
	return out
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T, ip string) int {
	l, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const diffHosts = "127.0.0.1 localhost\n" + realIP + " mail.hamap.local mail\n" +
	namedIP + " pc9.elsewhere.example\n" + hamapIP + " pc7.hamap.local\n"

// TestDifferentialSendmail runs the same sessions against the real
// sendmail and ours, with the stock-like cf and with FEATURE(delay_checks)
// and TRUST_AUTH_MECH, and compares every reply line.
func TestDifferentialSendmail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real sendmail")
	}
	for _, v := range []struct {
		name    string
		defines []string
	}{
		{"stock", nil},
		{"delay_checks+auth", []string{"-DDELAY", "-DWITH_AUTH"}},
		{"debian-banner+vrfy", []string{"-DDEBIAN_BANNER", "-DOPEN_PRIVACY"}},
		{"noetrn", []string{"-DNOETRN"}},
	} {
		t.Run(v.name, func(t *testing.T) { differential(t, v.defines) })
	}
}

func differential(t *testing.T, defines []string) {
	testutil.RequireRoot(t, "the real sendmail runs in its own mount namespace")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")

	work := t.TempDir()
	os.Chmod(work, 0o755)
	port := freePort(t, realIP)
	mc, _ := filepath.Abs("testdata/hamap.mc")
	args := append([]string{"-D_NO_MAKEINFO_", "-DWORKDIR=" + work, "-DLISTEN=" + realIP, fmt.Sprintf("-DPORT=%d", port)}, defines...)
	out, err := exec.Command(m4, append(args, mc)...).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	cfPath := filepath.Join(work, "sendmail.cf")
	writeFile(t, cfPath, string(out), 0o644)
	writeFile(t, filepath.Join(work, "local-host-names"), "hamap.local\nmail.hamap.local\n", 0o644)
	writeFile(t, filepath.Join(work, "relay-domains"), "", 0o644)
	writeFile(t, filepath.Join(work, "access"), diffAccess, 0o644)
	writeFile(t, filepath.Join(work, "aliases"), "postmaster: root\nMAILER-DAEMON: postmaster\n", 0o644)
	writeFile(t, filepath.Join(work, "hosts"), diffHosts, 0o644)
	writeFile(t, filepath.Join(work, "service.switch"), "hosts files\naliases files\n", 0o644)
	writeFile(t, filepath.Join(work, "resolv.conf"), "nameserver 127.0.0.1\n", 0o644)
	writeFile(t, filepath.Join(work, "nsswitch.conf"), "passwd: files\ngroup: files\nshadow: files\nhosts: files\n", 0o644)
	passwd, _ := os.ReadFile("/etc/passwd")
	writeFile(t, filepath.Join(work, "passwd"), string(passwd)+"a:x:1023:1023::/nonexistent:/bin/sh\nb:x:1024:1024::/nonexistent:/bin/sh\n", 0o644)
	os.Mkdir(filepath.Join(work, "mqueue"), 0o700)
	mk := exec.Command(makemap, "hash", filepath.Join(work, "access"))
	mk.Stdin = strings.NewReader(diffAccess)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("makemap: %v\n%s", err, out)
	}
	// The real sendmail logs through syslog(3): a private /dev/log (on a
	// tmpfs /dev that keeps the real null, zero and random devices)
	// leads its lines to the test.
	logSock := filepath.Join(work, "log.sock")
	syslogLines := testutil.Syslog(t, logSock)
	script := fmt.Sprintf(`set -e
echo mail.hamap.local > /proc/sys/kernel/hostname
for f in resolv.conf hosts nsswitch.conf passwd; do mount --bind %[1]s/$f /etc/$f; done
mkdir %[1]s/realdev
mount --bind /dev %[1]s/realdev
mount -t tmpfs tmpfs /dev
for f in null zero random urandom full tty; do touch /dev/$f; mount --bind %[1]s/realdev/$f /dev/$f; done
touch /dev/log
mount --bind %[4]s /dev/log
%[2]s -C %[3]s -bi >/dev/null
exec %[2]s -C %[3]s -bD
`, work, sendmail, cfPath, logSock)
	cmd := exec.Command(unshare, "--mount", "--uts", "--propagation", "private", "sh", "-c", script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	realAddr := net.JoinHostPort(realIP, fmt.Sprint(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp4", realAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sendmail exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendmail did not start listening: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	oursLog := &syncBuffer{}
	oursAddr := startOursLike(t, cfPath, oursLog)
	want := transcript(t, realAddr)
	got := transcript(t, oursAddr)
	time.Sleep(300 * time.Millisecond)
	wantLog, gotLog := maskLog(syslogLines()), maskLog(strings.Split(oursLog.String(), "\n"))
	if dir := os.Getenv("SMTPD_TRANSCRIPTS"); dir != "" {
		name := strings.ReplaceAll(t.Name(), "/", "_")
		os.WriteFile(filepath.Join(dir, name+".sendmail.txt"), []byte(strings.Join(want, "\n")+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, name+".ours.txt"), []byte(strings.Join(got, "\n")+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, name+".sendmail.log"), []byte(strings.Join(wantLog, "\n")+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, name+".ours.log"), []byte(strings.Join(gotLog, "\n")+"\n"), 0o644)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transcripts differ (-sendmail +ours):\n%s", diff)
	}
	slices.Sort(wantLog)
	slices.Sort(gotLog)
	if diff := cmp.Diff(wantLog, gotLog); diff != "" {
		t.Errorf("log lines differ (-sendmail +ours, sorted):\n%s", diff)
	}
}

// startOursLike runs our server with the cf the real sendmail reads and
// the same names in a test DNS server.
func startOursLike(t *testing.T, cfPath string, logw *syncBuffer) string {
	cfg, err := cf.Load(cfPath, cf.Options{NoUserLookup: true})
	if err != nil {
		t.Fatalf("load cf: %v", err)
	}
	text, _ := os.ReadFile(cfPath)
	d := startDNS(t)
	d.mu.Lock()
	d.ptr[namedIP] = "pc9.elsewhere.example."
	d.a["pc9.elsewhere.example"] = []string{namedIP}
	d.ptr[hamapIP] = "pc7.hamap.local."
	d.a["pc7.hamap.local"] = []string{hamapIP}
	d.ptr[oursIP] = "mail.hamap.local."
	d.a["mail.hamap.local"] = []string{oursIP}
	d.mu.Unlock()
	f := DetectFeatures(string(text))
	host, _ := cfg.Macro("j")
	pol := NewPolicy(cfg, f, host, RuntimeClassW(t.Context(), cfg, host, d.resolver()))
	entries := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(diffAccess), "\n") {
		k, v, _ := strings.Cut(l, " ")
		entries[k] = v
	}
	pol.Access = &accessdb.Checker{Map: accessdb.NewMemMap(entries), Skip: f.AccessSkip, TempFail: true}
	pol.Resolver = d.resolver()
	pol.Recipients = RecipientSet{"a": true, "b": true, "root": true, "postmaster": true, "mailer-daemon": true}
	spool := &DirSpool{Dir: t.TempDir()}
	// The real sendmail has no SASL users here: every AUTH fails.
	deny := AuthFunc(func(user, pass string) error { return errors.New("no such user") })
	srv, err := NewServer(Config{CF: cfg, Policy: pol, Spool: spool, Auth: deny,
		Log: maillog.New(logw, maillog.Options{Ident: "sendmail"})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", oursIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, cfg.DaemonPortOptions[0]) }()
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

var (
	logPrefixRe = regexp.MustCompile(`^.*?sendmail\[\d+\]: `)
	logQIDRe    = regexp.MustCompile(`^[0-9A-Za-x]{8}\d{6}: `)
)

// logSkip are the real sendmail's lines the comparison leaves out:
// delivery and alias lines (not this package's), the start line and the
// readiness probe of the test, the "AUTH failure" texts of Cyrus SASL
// without a user database (internal/maillog writes the password-mismatch
// form), and the from= line of a MAIL with a SIZE parameter without
// value, which sendmail logs with size=LONG_MAX.
var logSkip = regexp.MustCompile(`, mailer=|^alias database |: \d+ aliases, |^starting daemon |^<QID>: localhost \[127\.0\.0\.1\] did not issue|^<QID>: AUTH failure |size=9223372036854775807`)

// maskLog keeps the message part of sendmail log lines, queue ids
// masked, for the SMTP session events both servers log.
func maskLog(lines []string) []string {
	var out []string
	for _, l := range lines {
		l = strings.TrimRight(l, "\n")
		if !logPrefixRe.MatchString(l) {
			continue
		}
		l = logPrefixRe.ReplaceAllString(l, "")
		l = logQIDRe.ReplaceAllString(l, "<QID>: ")
		l = qidRe.ReplaceAllString(l, "<QID>")
		l = regexp.MustCompile(`<\d{12}\.<QID>@`).ReplaceAllString(l, "<YYYYMMDDhhmm.<QID>@")
		if logSkip.MatchString(l) {
			continue
		}
		out = append(out, l)
	}
	return out
}
