// SPDX-License-Identifier: MIT

package maillog

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

var fixed = time.Date(2026, 11, 27, 1, 1, 9, 0, time.UTC)

func newTest(ident string, pid int) (*Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return New(&buf, Options{Ident: ident, PID: pid, NoPID: pid == 0, Host: "mail", Now: func() time.Time { return fixed }}), &buf
}

// The expected lines are the ones the real Sendmail and Dovecot logged in
// the seed scenario (shared/reference/anchor-behaviour.md §10).
func TestSendmailLines(t *testing.T) {
	l, buf := newTest("sendmail", 19841)
	l.From("6AR119G3019841", From{Sender: "<a@hamap.local>", Size: 450, NRcpts: 1,
		MsgID: "<seed-1.20261127010054.18936@hamap.local>", Proto: "ESMTP", Daemon: "MTA", Relay: Relay("", "127.0.0.20", false)})
	l.WithPID(19846).To("6AR119G3019841", To{Rcpt: "<b@hamap.local>", CtlAddr: "<a@hamap.local> (1023/1023)",
		Mailer: "local", Pri: 30619, DSN: "2.0.0", Stat: "Sent"})
	l.StartingDaemon("8.17.1.9", "SMTP")
	l.AliasRebuilt("/w/etc/aliases", "root")
	l.AliasStats("/w/etc/aliases", 11, 10, 113)
	l.NoTransaction("6AR11AAA019850", "[127.0.0.20]", "MTA")
	l.Reject("6AR11AAA019851", "check_rcpt", "<friend@outside.example>", "[127.1.0.5]",
		"550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]")
	l.From("6AR11AAA019851", From{Sender: "<a@hamap.local>", Proto: "ESMTP", Daemon: "MTA", Relay: "[127.1.0.5]"})
	l.AddrError("6AR11AAA019852", "<nosuchuser@hamap.local>", "User unknown")
	l.To("6AR11AAA019853", To{Rcpt: "<later@outside.example>", CtlAddr: "<a@hamap.local> (1023/1023)", Delay: time.Second,
		Mailer: "relay", Pri: 120448, Relay: "smtp.isp.example. [127.0.0.13]", DSN: "2.0.0", Stat: "Sent (2.0.0 Ok: queued as sink-2)"})
	l.To("6AR11AAA019853", To{Rcpt: "<nobody@outside.example>", Delay: time.Second,
		Mailer: "relay", Pri: 120448, Relay: "[127.0.0.16] [127.0.0.16]", DSN: "5.1.1", Reply: "550 5.1.1 <nobody@outside.example>... User unknown", Stat: "User unknown"})
	l.From("6AR11AAA019854", From{Sender: "root", Size: 192, NRcpts: 1, MsgID: "<seed-3@hamap.local>", Relay: "root@localhost"})
	l.SMTPAttack("6AR11AAA019855", "[127.0.0.20]", "HELO/EHLO", 3)
	l.VrfyRejected("6AR11AAA019856", "[127.0.0.20]", "VRFY", "b")
	want := []string{
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR119G3019841: from=<a@hamap.local>, size=450, class=0, nrcpts=1, msgid=<seed-1.20261127010054.18936@hamap.local>, proto=ESMTP, daemon=MTA, relay=[127.0.0.20]",
		"Nov 27 01:01:09 mail sendmail[19846]: 6AR119G3019841: to=<b@hamap.local>, ctladdr=<a@hamap.local> (1023/1023), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30619, dsn=2.0.0, stat=Sent",
		"Nov 27 01:01:09 mail sendmail[19841]: starting daemon (8.17.1.9): SMTP",
		"Nov 27 01:01:09 mail sendmail[19841]: alias database /w/etc/aliases rebuilt by root",
		"Nov 27 01:01:09 mail sendmail[19841]: /w/etc/aliases: 11 aliases, longest 10 bytes, 113 bytes total",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019850: [127.0.0.20] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019851: ruleset=check_rcpt, arg1=<friend@outside.example>, relay=[127.1.0.5], reject=550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019851: from=<a@hamap.local>, size=0, class=0, nrcpts=0, proto=ESMTP, daemon=MTA, relay=[127.1.0.5]",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019852: <nosuchuser@hamap.local>... User unknown",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019853: to=<later@outside.example>, ctladdr=<a@hamap.local> (1023/1023), delay=00:00:01, xdelay=00:00:00, mailer=relay, pri=120448, relay=smtp.isp.example. [127.0.0.13], dsn=2.0.0, stat=Sent (2.0.0 Ok: queued as sink-2)",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019853: to=<nobody@outside.example>, delay=00:00:01, xdelay=00:00:00, mailer=relay, pri=120448, relay=[127.0.0.16] [127.0.0.16], dsn=5.1.1, reply=550 5.1.1 <nobody@outside.example>... User unknown, stat=User unknown",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019854: from=root, size=192, class=0, nrcpts=1, msgid=<seed-3@hamap.local>, relay=root@localhost",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019855: [127.0.0.20]: possible SMTP attack: command=HELO/EHLO, count=3",
		"Nov 27 01:01:09 mail sendmail[19841]: 6AR11AAA019856: [127.0.0.20]: VRFY b [rejected]",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestDovecotLines(t *testing.T) {
	l, buf := newTest("dovecot", 0)
	l.DovecotStarting("2.3.19.1 (9b53102964)", []string{"imap", "pop3"})
	l.LoginOK(Login{Service: "imap-login", User: "b", Method: "PLAIN", RIP: "127.0.0.20", LIP: "127.0.0.13", MPID: 20114, Session: "CRjnmDdhb7l/AAAU"})
	l.Disconnected(MailSession("imap", "b", 20114, "CRjnmDdhb7l/AAAU"), "Logged out",
		"in=68 out=2047 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=1 body_bytes=664")
	l.LoginAborted("Disconnected: Aborted login by logging out (no auth attempts in 1 secs)",
		Login{Service: "imap-login", RIP: "127.0.0.20", LIP: "127.0.0.13", Session: "x"})
	l.LoginAborted("Disconnected: Aborted login by logging out (auth failed, 1 attempts in 5 secs)",
		Login{Service: "imap-login", User: "b", Method: "PLAIN", RIP: "127.0.0.201", LIP: "127.0.0.13", Session: "y"})
	l.LoginOK(Login{Service: "pop3-login", User: "b", Method: "PLAIN", RIP: "127.0.0.20", LIP: "127.0.0.13", MPID: 20395, Session: "8GJ5mTdhTdR/AAAU"})
	l.Disconnected(MailSession("pop3", "b", 20395, "8GJ5mTdhTdR/AAAU"), "Logged out", "top=0/0, retr=1/681, del=0/1, size=664")
	want := []string{
		"Nov 27 01:01:09 mail dovecot: master: Dovecot v2.3.19.1 (9b53102964) starting up for imap, pop3 (core dumps disabled)",
		"Nov 27 01:01:09 mail dovecot: imap-login: Login: user=<b>, method=PLAIN, rip=127.0.0.20, lip=127.0.0.13, mpid=20114, session=<CRjnmDdhb7l/AAAU>",
		"Nov 27 01:01:09 mail dovecot: imap(b)<20114><CRjnmDdhb7l/AAAU>: Disconnected: Logged out in=68 out=2047 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=1 body_bytes=664",
		"Nov 27 01:01:09 mail dovecot: imap-login: Disconnected: Aborted login by logging out (no auth attempts in 1 secs): user=<>, rip=127.0.0.20, lip=127.0.0.13, session=<x>",
		"Nov 27 01:01:09 mail dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 1 attempts in 5 secs): user=<b>, method=PLAIN, rip=127.0.0.201, lip=127.0.0.13, session=<y>",
		"Nov 27 01:01:09 mail dovecot: pop3-login: Login: user=<b>, method=PLAIN, rip=127.0.0.20, lip=127.0.0.13, mpid=20395, session=<8GJ5mTdhTdR/AAAU>",
		"Nov 27 01:01:09 mail dovecot: pop3(b)<20395><8GJ5mTdhTdR/AAAU>: Disconnected: Logged out top=0/0, retr=1/681, del=0/1, size=664",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestSessionID(t *testing.T) {
	id := SessionID(fixed, netip.MustParseAddr("127.0.0.20"))
	if len(id) != 16 || !strings.HasSuffix(id, "/AAAU") {
		t.Errorf("SessionID = %q, want 16 chars ending in /AAAU as Dovecot's for 127.0.0.20", id)
	}
	if a, b := SessionID(fixed, netip.MustParseAddr("::1")), SessionID(fixed, netip.MustParseAddr("::1")); a == b {
		t.Errorf("two session ids in one microsecond are equal: %q", a)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "00:00:00", time.Second: "00:00:01", 61 * time.Minute: "01:01:00",
		25*time.Hour + 2*time.Second: "1+01:00:02", -time.Second: "00:00:00",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestNewlineCut(t *testing.T) {
	l, buf := newTest("sendmail", 1)
	l.Log(MailInfo, "a\nb")
	if got := buf.String(); got != "Nov 27 01:01:09 mail sendmail[1]: a\n" {
		t.Errorf("got %q", got)
	}
}

// TestFileReopen checks that Reopen follows a rotated file.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "maillog")
	l, err := Open(p, Options{Ident: "sendmail", Host: "mail"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(MailInfo, "one")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(MailInfo, "two")
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if !strings.HasSuffix(string(old), ": one\n") || !strings.HasSuffix(string(cur), ": two\n") {
		t.Errorf("rotated %q, current %q", old, cur)
	}
}

// TestFail2ban runs fail2ban's stock Debian filters over our lines: the
// lines that must get a client banned match, the ordinary ones do not.
func TestFail2ban(t *testing.T) {
	f2b := testutil.Oracle(t, "fail2ban-regex", "fail2ban")
	cases := []struct {
		filter string
		emit   func(l *Logger)
		match  bool
	}{
		{"sendmail-reject", func(l *Logger) {
			l.Reject("6AR11AAA019851", "check_rcpt", "<friend@outside.example>", "[127.1.0.5]",
				"550 5.7.1 <friend@outside.example>... Relaying denied. IP name lookup failed [127.1.0.5]")
		}, true},
		{"sendmail-reject", func(l *Logger) {
			l.Reject("6AR11AAA019851", "check_rcpt", "<x@outside.example>", "[127.1.0.5]",
				"550 5.7.1 <x@outside.example>... Relaying denied. Proper authentication required.")
		}, true},
		{"sendmail-reject", func(l *Logger) { l.VrfyRejected("6AR11AAA019856", "[127.0.0.20]", "VRFY", "b") }, true},
		{"sendmail-reject", func(l *Logger) {
			l.From("6AR119G3019841", From{Sender: "<a@hamap.local>", Size: 450, NRcpts: 1, Proto: "ESMTP", Daemon: "MTA", Relay: "[127.0.0.20]"})
		}, false},
		{"sendmail-auth", func(l *Logger) { l.AuthFailure("6AR11AAA019857", "PLAIN", "b", "[127.1.0.5]") }, true},
		{"sendmail-auth", func(l *Logger) {
			l.AuthFailureDetail("6AR11AAA019858", "LOGIN", SASLDetail("LOGIN"), "b", "[127.1.0.5]")
		}, true},
		{"sendmail-auth", func(l *Logger) {
			l.AuthFailureDetail("6AR11AAA019859", "plain", SASLDetail("plain"), "", "pc9.elsewhere.example [127.1.0.9] (may be forged)")
		}, true},
		{"sendmail-auth", func(l *Logger) { l.SMTPAttack("", "[127.1.0.5]", "AUTH", 3) }, true},
		{"sendmail-auth", func(l *Logger) { l.AuthOK("", "[127.0.0.20]", "b", "PLAIN") }, false},
		{"dovecot", func(l *Logger) {
			l.LoginAborted("Disconnected: Aborted login by logging out (auth failed, 1 attempts in 5 secs)",
				Login{Service: "imap-login", User: "b", Method: "PLAIN", RIP: "127.0.0.201", LIP: "127.0.0.13", Session: "abc"})
		}, true},
		{"dovecot", func(l *Logger) {
			l.LoginOK(Login{Service: "imap-login", User: "b", Method: "PLAIN", RIP: "127.0.0.20", LIP: "127.0.0.13", MPID: 2, Session: "abc"})
		}, false},
	}
	for i, c := range cases {
		ident := "sendmail"
		pid := 4242
		if c.filter == "dovecot" {
			ident, pid = "dovecot", 0
		}
		// fail2ban needs a current timestamp to accept a line.
		var buf bytes.Buffer
		l := New(&buf, Options{Ident: ident, PID: pid, NoPID: pid == 0, Host: "mail"})
		c.emit(l)
		file := filepath.Join(t.TempDir(), "log")
		os.WriteFile(file, buf.Bytes(), 0o644)
		out, err := exec.Command(f2b, file, "/etc/fail2ban/filter.d/"+c.filter+".conf").CombinedOutput()
		if err != nil {
			t.Fatalf("case %d: fail2ban-regex: %v\n%s", i, err, out)
		}
		m := regexp.MustCompile(`Lines: \d+ lines, \d+ ignored, (\d+) matched`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("case %d: no summary in fail2ban-regex output:\n%s", i, out)
		}
		if got := string(m[1]) != "0"; got != c.match {
			t.Errorf("case %d (%s): line %q matched=%v, want %v", i, c.filter, strings.TrimSpace(buf.String()), got, c.match)
		}
	}
}
