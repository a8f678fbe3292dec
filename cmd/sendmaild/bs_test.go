// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/internal/testutil/dnstest"
)

// bsSessions are the scripts TestBSDifferential feeds to sendmail -bs,
// one process each. A line after a 354 reply is the message text. The
// ETRN session comes first, while the queue is empty, so the real
// sendmail's queue run has nothing to deliver.
var bsSessions = [][]string{
	{"EHLO localhost", "ETRN hamap.local", "ETRN #mqueue", "NOOP", "VRFY b", "EXPN b", "QUIT"},
	{"EHLO localhost", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "RCPT TO:<friend@outside.example>",
		"RCPT TO:<nosuch@hamap.local>", "RCPT TO:<a%outside.example@hamap.local>", "DATA",
		"Subject: -bs\r\n\r\nover stdin\r\n..dot\r\n.", "QUIT"},
	{"HELO somepc", "MAIL FROM:<root>", "RCPT TO:<b>", "DATA", "Subject: helo\r\n\r\nx\r\n.", "QUIT"},
	{"MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "RSET", "MAIL FROM:<a>", "RCPT TO:<team>", "QUIT"},
	{"EHLO localhost", "QUIT"},
	{"EHLO localhost", "MAIL FROM:<a@hamap.local>"},
}

var (
	bsQID  = regexp.MustCompile(`\b[0-9A-Za-x]{8}\d{6}\b`)
	bsDate = regexp.MustCompile(`[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d (GMT|[-+]\d{4}( \([A-Z]+\))?)`)
	bsMID  = regexp.MustCompile(`<\d{12}\.<QID>@`)
	bsLog  = regexp.MustCompile(`^(<\d+>)?(\w{3} [ \d]\d \d\d:\d\d:\d\d )?(\S+ )?sendmail\[\d+\]: `)
)

func bsMask(s string) string {
	s = bsQID.ReplaceAllString(s, "<QID>")
	s = bsMID.ReplaceAllString(s, "<YYYYMMDDhhmm.<QID>@")
	return bsDate.ReplaceAllString(s, "<date>")
}

// bsDrive runs one session against a -bs process's stdin and stdout and
// returns the exchange, masked.
func bsDrive(t *testing.T, in io.WriteCloser, out io.Reader, lines []string) []string {
	t.Helper()
	br := bufio.NewReader(out)
	var got []string
	readReply := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				got = append(got, "<eof>")
				return ""
			}
			l = strings.TrimRight(l, "\r\n")
			got = append(got, bsMask(l))
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	readReply()
	data := false
	for _, line := range lines {
		fmt.Fprintf(in, "%s\r\n", line)
		if data {
			got = append(got, "> (message)")
			data = false
		} else {
			got = append(got, "> "+line)
		}
		if r := readReply(); strings.HasPrefix(r, "354") {
			data = true
		}
	}
	in.Close()
	// What the process says after the end of its input.
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, bsMask(strings.TrimRight(l, "\r\n")))
	}
	return got
}

// TestBSDifferential runs the same SMTP scripts through the real
// "sendmail -bs" (in its own mount and UTS namespace, as root, with the
// test's passwd, hosts and a loopback resolv.conf) and through ours, and
// compares every reply line and the session's log lines.
func TestBSDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real sendmail")
	}
	// The real sendmail offers the SASL mechanisms of the installed
	// Cyrus plug-ins unless the cf names them; ours implements only
	// LOGIN and PLAIN.
	w := newMTAWork(t, "-DMODE=q", "-DconfAUTH_MECHANISMS=LOGIN PLAIN")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	w.write(t, "service.switch", "hosts files\naliases files\n")
	// Ours resolves the host's name for class w through a test DNS
	// server with the addresses of the real one's hosts file.
	dns := dnstest.New(t)
	dns.AddA("mail.hamap.local", "127.0.0.1")
	os.Mkdir(filepath.Join(w.dir, "dns"), 0o755)
	rc, err := dns.WriteResolvConf(filepath.Join(w.dir, "dns"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(dnstest.EnvVar, rc)
	if code, _, errOut := w.invoke(t, "newaliases", ""); code != 0 {
		t.Fatalf("newaliases: %s", errOut)
	}
	logSock := filepath.Join(w.dir, "log.sock")
	realLog := testutil.Syslog(t, logSock)
	script := fmt.Sprintf(`set -e
echo mail.hamap.local > /proc/sys/kernel/hostname
for f in resolv.conf hosts nsswitch.conf passwd; do mount --bind %[1]s/$f /etc/$f; done
mkdir -p %[1]s/realdev
mount --bind /dev %[1]s/realdev
mount -t tmpfs tmpfs /dev
for f in null zero random urandom full tty; do touch /dev/$f; mount --bind %[1]s/realdev/$f /dev/$f; done
touch /dev/log
mount --bind %[4]s /dev/log
exec %[2]s -C %[3]s -bs
`, w.dir, sendmail, w.cf, logSock)

	var want, got []string
	for i, s := range bsSessions {
		cmd := exec.Command(unshare, "--mount", "--uts", "--propagation", "private", "sh", "-c", script)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for _, l := range bsDrive(t, in, out, s) {
			want = append(want, fmt.Sprintf("#%d %s", i, l))
		}
		if err := cmd.Wait(); err != nil {
			t.Logf("real sendmail -bs #%d: %v: %s", i, err, stderr.String())
		}

		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan int, 1)
		var errb strings.Builder
		go func() {
			done <- run("sendmail", []string{"-C", w.cf, "-L", filepath.Join(w.dir, "maillog"), "-bs"}, inR, outW, &errb)
			outW.Close()
		}()
		for _, l := range bsDrive(t, inW, outR, s) {
			got = append(got, fmt.Sprintf("#%d %s", i, l))
		}
		if code := <-done; code != 0 {
			t.Errorf("our sendmail -bs #%d: exit %d: %s", i, code, errb.String())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replies differ (-sendmail +ours):\n%s", diff)
	}
	time.Sleep(300 * time.Millisecond)
	if dns.Hits("mail.hamap.local") == 0 {
		t.Error("class w was not resolved through the test DNS server")
	}
	ours, err := os.ReadFile(filepath.Join(w.dir, "maillog"))
	if err != nil {
		t.Fatal(err)
	}
	wantLog, gotLog := bsLogLines(realLog()), bsLogLines(strings.Split(string(ours), "\n"))
	slices.Sort(wantLog)
	slices.Sort(gotLog)
	if diff := cmp.Diff(wantLog, gotLog); diff != "" {
		t.Errorf("log lines differ (-sendmail +ours, sorted):\n%s", diff)
	}
}

// bsLogLines keeps the message part of sendmail log lines, masked, and
// leaves out the alias-database lines of the set-up.
func bsLogLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		l = strings.TrimRight(l, "\n")
		if !bsLog.MatchString(l) {
			continue
		}
		l = bsMask(bsLog.ReplaceAllString(l, ""))
		if strings.Contains(l, "aliases, longest") || strings.HasPrefix(l, "alias database ") {
			continue
		}
		out = append(out, l)
	}
	return out
}
