// SPDX-License-Identifier: MIT

package test

// A site is one mail server of the runbook built the runbook's way: the
// seed's sendmail.mc compiled with mc2cf, an access file compiled with
// makemap hash, local-host-names, aliases and newaliases, users in
// alternate passwd/shadow files, the seed's dovecot.conf, and the built
// sendmaild and dovecotd running in the sandbox.

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailsuite/internal/testutil"
)

// site is one mail server: its host name, mail domain, loopback address
// and state directory (etc/mail, the queue, the spool, homes, logs).
type site struct {
	host, domain, ip string
	dir              string
	bin              string // built commands (sendmaild, dovecotd, mc2cf, makemap)
	sbin             string // sendmail, newaliases and mailq links to sendmaild
	sb               *sandbox
	owner            *testing.T // the test the site's daemons live as long as
	smtp, dovecot    *daemon
}

// users of every site: name, uid, password. As on the reference run they
// are ordinary uids (Dovecot refuses mail access to uid 0), group users.
var siteUsers = []struct {
	name     string
	uid      int
	password string
}{
	{"a", 1023, "a-secret"},
	{"b", 1024, "b-secret"},
	{"friend", 1025, "friend-secret"},
}

const usersGID = 100

func newSite(t *testing.T, sb *sandbox, bin, dir, host, domain, ip string) *site {
	t.Helper()
	s := &site{host: host, domain: domain, ip: ip, dir: dir, bin: bin, sbin: filepath.Join(dir, "sbin"), sb: sb, owner: t}
	for _, d := range []string{"etc/mail", "var/spool/mqueue", "var/mail", "var/log", "run/dovecot", "sbin", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"sendmail", "newaliases", "mailq"} {
		if err := os.Symlink(filepath.Join(bin, "sendmaild"), filepath.Join(s.sbin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *site) path(rel string) string { return filepath.Join(s.dir, rel) }
func (s *site) cf() string             { return s.path("etc/mail/sendmail.cf") }
func (s *site) maillog() string        { return s.path("var/log/maillog") }
func (s *site) mbox(user string) string {
	return s.path("var/mail/" + user)
}

// env is the environment of every program run for this site.
func (s *site) env() []string {
	return []string{
		"PATH=" + s.sbin + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C",
		"HOME=" + s.path("home"),
		"MAILSUITE_PASSWD=" + s.path("etc/passwd"),
		"MAILSUITE_SHADOW=" + s.path("etc/shadow"),
		"MAILSUITE_SPOOL=" + s.path("var/mail"),
		s.sb.dnsEnv,
	}
}

// sendmailMC is the seed's sendmail.mc (etc/mail/sendmail.mc, Rocky's
// defaults with the runbook's edits) for this site: the DAEMON_OPTIONS
// line the runbook edits, here bound to the site's own loopback address
// instead of every interface; /etc/mail and /var paths moved into the
// state directory; the site's domain in place of hamap.local.
func (s *site) sendmailMC(t *testing.T) string {
	t.Helper()
	return s.sendmailMCOn(t, s.ip)
}

// sendmailMCOn is sendmailMC with the daemon bound to addr.
func (s *site) sendmailMCOn(t *testing.T, addr string) string {
	t.Helper()
	mc := readFile(t, filepath.Join(testutil.RepoRoot(t), "etc", "mail", "sendmail.mc"))
	const daemonLine = "DAEMON_OPTIONS(`Port=smtp, Name=MTA')dnl"
	if !strings.Contains(mc, daemonLine) {
		t.Fatalf("etc/mail/sendmail.mc has no %s line (the runbook's edit)", daemonLine)
	}
	mc = strings.Replace(mc, daemonLine, "DAEMON_OPTIONS(`Port=smtp,Addr="+addr+", Name=MTA')dnl", 1)
	mc = strings.ReplaceAll(mc, "/etc/mail/", s.path("etc/mail")+"/")
	mc = strings.ReplaceAll(mc, "/var/log/mail/statistics", s.path("var/log/statistics"))
	mc = strings.ReplaceAll(mc, "LOCAL_DOMAIN(`hamap.local')", "LOCAL_DOMAIN(`"+s.domain+"')")
	const ostype = "OSTYPE(`linux')dnl\n"
	if !strings.Contains(mc, ostype) {
		t.Fatalf("etc/mail/sendmail.mc has no %q line", ostype)
	}
	mc = strings.Replace(mc, ostype, ostype+
		"dnl runbook test: state under the test's directory\n"+
		"define(`QUEUE_DIR', `"+s.path("var/spool/mqueue")+"')dnl\n"+
		"define(`confCW_FILE', `-o "+s.path("etc/mail/local-host-names")+"')dnl\n"+
		"define(`confCT_FILE', `-o "+s.path("etc/mail/trusted-users")+"')dnl\n"+
		"define(`confPID_FILE', `"+s.path("run/sendmail.pid")+"')dnl\n", 1)
	if stickyAncestor(s.path("etc/mail")) {
		// A checkout below /tmp: sendmail (and sendmaild) refuse maps
		// under a world-writable directory unless its sticky bit is
		// trusted, as make demo does too.
		mc = strings.Replace(mc, ostype, ostype+
			"define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl\n", 1)
	}
	return mc
}

// stickyAncestor reports whether a directory above dir is world-writable
// with its sticky bit set, as /tmp is.
func stickyAncestor(dir string) bool {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode()&os.ModeSticky != 0 && fi.Mode().Perm()&0o002 != 0 {
			return true
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}

// accessText is the seed's access file with the runbook's trusted network
// (Connect:10.0.0 RELAY) replaced by the trusted PC's address.
func (s *site) accessText(t *testing.T, trusted string) string {
	t.Helper()
	text := readFile(t, filepath.Join(testutil.RepoRoot(t), "etc", "mail", "access"))
	const office = "Connect:10.0.0\t\t\t\tRELAY"
	if !strings.Contains(text, office) {
		t.Fatalf("etc/mail/access has no %q line", office)
	}
	text = strings.Replace(text, office, "Connect:"+trusted+"\t\t\tRELAY", 1)
	return strings.ReplaceAll(text, "Connect:hamap.local", "Connect:"+s.domain)
}

// configure writes and compiles the site's sendmail configuration: the mc
// (mc2cf), access (makemap hash), local-host-names and aliases
// (newaliases).
func (s *site) configure(t *testing.T, trusted string) {
	t.Helper()
	etc := s.path("etc/mail")
	write(t, filepath.Join(etc, "sendmail.mc"), s.sendmailMC(t), 0o644)
	s.runOK(t, "", filepath.Join(s.bin, "mc2cf"), "-o", s.cf(), filepath.Join(etc, "sendmail.mc"))
	write(t, filepath.Join(etc, "access"), s.accessText(t, trusted), 0o644)
	if out := s.runOK(t, readFile(t, filepath.Join(etc, "access")), filepath.Join(s.bin, "makemap"), "hash", filepath.Join(etc, "access")); out != "" {
		t.Errorf("makemap hash access printed %q, want nothing", out)
	}
	write(t, filepath.Join(etc, "local-host-names"), s.domain+"\n", 0o644)
	write(t, filepath.Join(etc, "aliases"), readFile(t, filepath.Join(testutil.RepoRoot(t), "etc", "mail", "aliases")), 0o644)
	// newaliases may look up the host's name: it runs in the sandbox.
	out, rc := s.sb.runAs(t, s.host, s.env(), "", filepath.Join(s.sbin, "newaliases"), "-C", s.cf(), "-L", s.maillog())
	if rc != 0 {
		t.Fatalf("newaliases: exit %d\n%s", rc, out)
	}
	if !strings.Contains(out, filepath.Join(etc, "aliases")+": ") || !strings.Contains(out, " aliases, longest ") {
		t.Errorf("newaliases printed %q, want %q", out, filepath.Join(etc, "aliases")+": N aliases, longest N bytes, N bytes total")
	}
}

// runOK runs a program that resolves no names (mc2cf, makemap) in the
// site's environment and fails the test unless it exits 0.
func (s *site) runOK(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	out, errs, rc := run(t, s.path("etc/mail"), s.env(), []byte(stdin), name, args...)
	errs = dropAncestorWarnings(errs, s.path("etc/mail"))
	if rc != 0 || errs != "" {
		t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), rc, out, errs)
	}
	return out
}

// dropAncestorWarnings removes the "WARNING: World writable directory D"
// lines makemap prints, as the real one does, when a directory D above dir
// is world-writable — as /tmp is when the checkout lives below it. The
// runbook's /etc/mail has no such ancestor, so anything else makemap says
// still fails the step.
func dropAncestorWarnings(errs, dir string) string {
	var kept []string
	for _, line := range strings.SplitAfter(errs, "\n") {
		d, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "WARNING: World writable directory ")
		if ok && (dir == d || strings.HasPrefix(dir, strings.TrimSuffix(d, "/")+"/")) {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && fi.Mode().Perm()&0o002 != 0 {
				continue
			}
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "")
}

// addUsers writes the site's passwd and shadow files as useradd and
// passwd would (hashes made by the system's crypt), homes and empty
// mailboxes (user, group mail, 0660) as useradd makes them.
func (s *site) addUsers(t *testing.T) {
	t.Helper()
	days := time.Now().Unix() / 86400
	passwd := "root:x:0:0:root:/root:/bin/bash\n"
	shadow := fmt.Sprintf("root:*:%d:0:99999:7:::\n", days)
	for _, u := range siteUsers {
		home := s.path("home/" + u.name)
		if err := os.MkdirAll(filepath.Join(home, "mail"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{home, filepath.Join(home, "mail")} {
			if err := os.Chown(d, u.uid, usersGID); err != nil {
				t.Fatal(err)
			}
		}
		passwd += fmt.Sprintf("%s:x:%d:%d::%s:/bin/sh\n", u.name, u.uid, usersGID, home)
		shadow += fmt.Sprintf("%s:%s:%d:0:99999:7:::\n", u.name, cryptPassword(t, u.password), days)
		mb := s.mbox(u.name)
		write(t, mb, "", 0o660)
		if err := os.Chown(mb, u.uid, 8); err != nil { // group mail
			t.Fatal(err)
		}
		if err := os.Chmod(mb, 0o660); err != nil {
			t.Fatal(err)
		}
	}
	// The spool as Debian has it: root:mail, 2775.
	if err := os.Chown(s.path("var/mail"), 0, 8); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.path("var/mail"), 0o2775); err != nil {
		t.Fatal(err)
	}
	write(t, s.path("etc/passwd"), passwd, 0o644)
	write(t, s.path("etc/shadow"), shadow, 0o600)
}

// cryptPassword hashes password as passwd(1) does on Debian 12: yescrypt
// ($y$, through libxcrypt via python3's crypt module or mkpasswd), else
// SHA-512 crypt (openssl passwd -6).
func cryptPassword(t *testing.T, password string) string {
	t.Helper()
	const b64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// 16 random bytes in crypt's base64, as crypt_gensalt makes them: 22
	// characters, the last carrying only 2 bits (libxcrypt refuses others).
	salt := make([]byte, 22)
	rand.Read(salt)
	for i := range salt {
		salt[i] = b64[int(salt[i])%len(b64)]
	}
	salt[21] = b64[int(salt[21])%4]
	if py := debianPython(); py != "" {
		out, err := exec.Command(py, "-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) or '')",
			password, "$y$j9T$"+string(salt)+"$").Output()
		if h := strings.TrimSpace(string(out)); err == nil && strings.HasPrefix(h, "$y$") {
			return h
		}
	}
	if mk, err := exec.LookPath("mkpasswd"); err == nil {
		out, err := exec.Command(mk, "-m", "yescrypt", password).Output()
		if h := strings.TrimSpace(string(out)); err == nil && strings.HasPrefix(h, "$y$") {
			return h
		}
	}
	openssl := testutil.Oracle(t, "openssl", "openssl")
	out, err := exec.Command(openssl, "passwd", "-6", password).Output()
	if err != nil {
		t.Fatalf("openssl passwd -6: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// debianPython is Debian's python3 (package python3) when installed, else
// whatever python3 PATH finds (a version manager's shim starts slowly), or "".
func debianPython() string {
	if fi, err := os.Stat("/usr/bin/python3"); err == nil && fi.Mode()&0o111 != 0 {
		return "/usr/bin/python3"
	}
	p, _ := exec.LookPath("python3")
	return p
}

// writeDovecot copies the seed's dovecot tree (etc/dovecot) and makes the
// runbook's edits: listen on the site's address (the runbook says *),
// mail_location's INBOX in the site's spool; local.conf (which
// dovecot.conf includes last) moves base_dir and the log into the state
// directory.
func (s *site) writeDovecot(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testutil.RepoRoot(t), "etc", "dovecot")
	dst := s.path("etc/dovecot")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(file, old, new string) {
		t.Helper()
		p := filepath.Join(dst, file)
		text := readFile(t, p)
		if !strings.Contains(text, old) {
			t.Fatalf("%s: no %q line to edit", p, old)
		}
		write(t, p, strings.Replace(text, old, new, 1), 0o644)
	}
	if conf := readFile(t, filepath.Join(dst, "dovecot.conf")); !strings.Contains(conf, "\nprotocols = imap pop3\n") {
		t.Fatalf("etc/dovecot/dovecot.conf lacks the runbook's \"protocols = imap pop3\"")
	}
	edit("dovecot.conf", "\nlisten = *\n", "\nlisten = "+s.ip+"\n")
	edit("conf.d/10-mail.conf", "\nmail_location = mbox:~/mail:INBOX=/var/mail/%u\n",
		"\nmail_location = mbox:~/mail:INBOX="+s.path("var/mail")+"/%u\n")
	write(t, filepath.Join(dst, "local.conf"), fmt.Sprintf("# runbook test: state under the test's directory\nbase_dir = %s\nlog_path = %s\n",
		s.path("run/dovecot"), s.path("var/log/dovecot.log")), 0o644)
	return filepath.Join(dst, "dovecot.conf")
}

// startSendmaild starts `sendmaild -bd -q1h` (the unit's command line)
// on the site's address, port 25.
func (s *site) startSendmaild(t *testing.T) {
	t.Helper()
	s.startSendmaildEvery(t, "1h")
}

// startSendmaildEvery starts `sendmaild -bd -q<interval>`.
func (s *site) startSendmaildEvery(t *testing.T, interval string) {
	t.Helper()
	s.smtp = s.sb.startDaemon(t, s.owner, s.host, s.env(), []string{net.JoinHostPort(s.ip, "25")},
		filepath.Join(s.bin, "sendmaild"), "-bd", "-q"+interval, "-C", s.cf(), "-L", s.maillog())
}

// startDovecotd starts dovecotd in the foreground on the site's address,
// IMAP 143 and POP3 110.
func (s *site) startDovecotd(t *testing.T, conf string) {
	t.Helper()
	s.dovecot = s.sb.startDaemon(t, s.owner, s.host, s.env(), []string{net.JoinHostPort(s.ip, "143"), net.JoinHostPort(s.ip, "110")},
		filepath.Join(s.bin, "dovecotd"), "-F", "-c", conf)
}

// waitMbox waits (up to 15 s) until user's mailbox contains want, and
// returns the mailbox.
func (s *site) waitMbox(t *testing.T, user, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(s.mbox(user))
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.maillog())
			t.Fatalf("%s's mailbox on %s lacks %q after 15 s; mailbox:\n%s\nmaillog:\n%s", user, s.host, want, b, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits (up to 15 s) until the site's maillog has a line
// matching the regular expression re.
func (s *site) waitLog(t *testing.T, re string) {
	t.Helper()
	s.waitFile(t, "var/log/maillog", re)
}

// waitFile waits (up to 15 s) until the site's file rel has a line
// matching the regular expression re.
func (s *site) waitFile(t *testing.T, rel, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(s.path(rel))
		if rx.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s's %s has no line matching %s after 15 s:\n%s", s.host, rel, re, b)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// write writes a file with mode perm, failing the test on error.
func write(t *testing.T, p, text string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
}
