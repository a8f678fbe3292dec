// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/testutil"
)

// TestMain lets the daemon test run this test binary as sendmaild.
// TestDSNFlags: -R, -V and -N are read as sendmail reads them.
func TestDSNFlags(t *testing.T) {
	o, err := parseArgs("sendmail", []string{"-R", "HDRS", "-Venv+2Bid", "-N", "success,delay", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if o.ret != "HDRS" || o.envid != "env+2Bid" || o.notify != "success,delay" || len(o.rcpts) != 1 {
		t.Errorf("parsed %+v", o)
	}
	if _, err := parseArgs("sendmail", []string{"-N", "never", "a"}); err != nil {
		t.Errorf("-N never: %v", err)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("SENDMAILD_TEST_MAIN") == "1" {
		name := os.Getenv("SENDMAILD_TEST_NAME")
		if name == "" {
			name = "sendmaild"
		}
		os.Exit(run(name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-bx"}, exUsage, "sendmaild: Invalid operation mode x"},
		{[]string{"-Z"}, exUsage, "sendmaild: invalid option -- 'Z'"},
		{[]string{"-f"}, exUsage, "sendmaild: option requires an argument -- 'f'"},
		{[]string{"-q5m"}, exUsage, "-q with an interval needs -bd"},
		// The DSN flags, refused with the real sendmail's texts.
		{[]string{"-R", "bogus", "a"}, exUsage, "Invalid -R value\n"},
		{[]string{"-V", "a=b", "a"}, exUsage, "Invalid syntax in -V flag\n"},
		{[]string{"-N", "success,never", "a"}, exUsage, "Invalid -N argument\n"},
		{[]string{"-N", "bogus", "a"}, exUsage, "Invalid -N argument\n"},
		{[]string{"-bs", "-L", "-", "-C", "/nonexistent/sendmail.cf"}, exConfig, "/nonexistent/sendmail.cf"},
		{[]string{"-bt", "-L", "-", "-C", "/nonexistent/sendmail.cf"}, exConfig, "/nonexistent/sendmail.cf"},
		{[]string{"-bd", "-L", "-", "-C", "/nonexistent/sendmail.cf"}, exConfig, "/nonexistent/sendmail.cf"},
		{[]string{"-bp", "-L", "-", "-C", "/nonexistent/sendmail.cf"}, exConfig, "/nonexistent/sendmail.cf"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			if code := run("sendmaild", tc.args, strings.NewReader(""), io.Discard, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.msg)
			}
		})
	}
}

const (
	daemonIP  = "127.0.0.23"
	trustedIP = "127.0.0.20"
	outsideIP = "127.1.0.5"
)

// TestDaemon starts sendmaild -bd on a cf made by m4 from the smtpd test
// mc, in a mount namespace whose hosts, nsswitch.conf and resolv.conf
// keep every name lookup on this machine, and drives it over SMTP:
// greeting, a local delivery into the spool, a refused relay, a SIGHUP
// reload and a SIGTERM that ends it with status 0.
func TestDaemon(t *testing.T) {
	testutil.RequireRoot(t, "sendmaild runs in its own mount namespace with a private resolver configuration")
	m4 := testutil.Oracle(t, "m4", "m4")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	work := t.TempDir()
	port := func() int {
		l, err := net.Listen("tcp4", daemonIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}()
	mc := filepath.Join(testutil.RepoRoot(t), "internal", "smtpd", "testdata", "hamap.mc")
	cfText, err := exec.Command(m4, "-D_NO_MAKEINFO_", "-DWORKDIR="+work, "-DLISTEN="+daemonIP, fmt.Sprintf("-DPORT=%d", port), mc).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(work, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfPath := filepath.Join(work, "sendmail.cf")
	write("sendmail.cf", string(cfText))
	write("local-host-names", "hamap.local\nmail.hamap.local\n")
	write("relay-domains", "")
	write("hosts", "127.0.0.1 localhost\n"+daemonIP+" mail.hamap.local mail\n")
	write("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n")
	write("resolv.conf", "nameserver 127.0.0.1\n")
	write("passwd", "a:x:1023:1023::/nonexistent:/bin/sh\nb:x:1024:1024::/nonexistent:/bin/sh\n")
	write("shadow", "")
	os.Mkdir(filepath.Join(work, "mqueue"), 0o700)
	mk := exec.Command(makemap, "hash", filepath.Join(work, "access"))
	mk.Stdin = strings.NewReader("Connect:127.0.0 RELAY\n")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("makemap: %v: %s", err, out)
	}
	logPath := filepath.Join(work, "maillog")
	script := fmt.Sprintf(`set -e
for f in hosts nsswitch.conf resolv.conf; do mount --bind %[1]s/$f /etc/$f; done
exec %[2]s -bd -C %[3]s -L %[4]s
`, work, os.Args[0], cfPath, logPath)
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "SENDMAILD_TEST_MAIN=1", "MAILSUITE_PASSWD="+filepath.Join(work, "passwd"),
		"MAILSUITE_SHADOW="+filepath.Join(work, "shadow"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
	}()
	addr := net.JoinHostPort(daemonIP, fmt.Sprint(port))

	session := func(src string, lines ...string) []string {
		t.Helper()
		var conn net.Conn
		deadline := time.Now().Add(20 * time.Second)
		for {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
			c, err := d.Dial("tcp4", addr)
			if err == nil {
				conn = c
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sendmaild not listening: %v; stderr: %s", err, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(conn)
		var out []string
		read := func() {
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					out = append(out, "<"+err.Error()+">")
					return
				}
				l = strings.TrimRight(l, "\r\n")
				out = append(out, l)
				if len(l) < 4 || l[3] != '-' {
					return
				}
			}
		}
		read()
		for _, l := range lines {
			io.WriteString(conn, l+"\r\n")
			read()
		}
		return out
	}

	date := regexp.MustCompile(`; .*$`)
	out := session(trustedIP, "HELO pc", "MAIL FROM:<a@hamap.local>", "RCPT TO:<b@hamap.local>", "RCPT TO:<nobody@hamap.local>",
		"DATA", "Subject: x\r\n\r\nhello\r\n.", "QUIT")
	want := []string{
		"220 mail.hamap.local ESMTP Sendmail 8.17.1.9/8.17.1.9; <date>",
		"250 mail.hamap.local Hello [127.0.0.20], pleased to meet you",
		"250 2.1.0 <a@hamap.local>... Sender ok",
		"250 2.1.5 <b@hamap.local>... Recipient ok",
		"550 5.1.1 <nobody@hamap.local>... User unknown",
		"354 End data with <CR><LF>.<CR><LF>",
		"250 2.0.0 <QID> Message accepted for delivery",
		"221 2.0.0 mail.hamap.local closing connection",
	}
	out[0] = date.ReplaceAllString(out[0], "; <date>")
	out[6] = regexp.MustCompile(`^250 2\.0\.0 \S{14} `).ReplaceAllString(out[6], "250 2.0.0 <QID> ")
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Errorf("trusted session:\n%s\nwant:\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
	// The cf says DeliveryMode=queueonly: the message waits in the
	// queue as a qf/df pair.
	for _, pat := range []string{"qf*", "df*"} {
		files, _ := filepath.Glob(filepath.Join(work, "mqueue", pat))
		if len(files) != 1 {
			t.Errorf("queue holds %d %s files, want 1", len(files), pat)
		}
	}
	out = session(outsideIP, "MAIL FROM:<a@hamap.local>", "RCPT TO:<friend@outside.example>", "QUIT")
	if out[2] != "550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]" {
		t.Errorf("relay from outside: %q", out[2])
	}

	write("sendmail.cf", strings.Replace(string(cfText), "O SmtpGreetingMessage=$j Sendmail $v/$Z; $b",
		"O SmtpGreetingMessage=$j reloaded", 1))
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	if out = session(trustedIP, "QUIT"); out[0] != "220 mail.hamap.local ESMTP reloaded" {
		t.Errorf("greeting after SIGHUP: %q", out[0])
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
	logs, _ := os.ReadFile(logPath)
	for _, w := range []string{"sendmail[", "starting daemon (8.17.1.9): SMTP", "from=<a@hamap.local>, size=18, class=0, nrcpts=1, msgid=<", "@mail.hamap.local>, proto=SMTP, daemon=MTA, relay=[127.0.0.20]",
		"ruleset=check_rcpt, arg1=<friend@outside.example>, relay=[127.1.0.5], reject=550 5.7.1"} {
		if !strings.Contains(string(logs), w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
}
