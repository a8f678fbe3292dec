// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/testutil"
)

// privUsers are the two users of the privilege-separation tests: uids
// that need not exist in /etc/passwd, password "secret" ($6$ from
// openssl passwd -6 -salt abcdefgh secret); root0 has uid 0.
var privUsers = []struct {
	name     string
	uid, gid int
}{{"alice", 5001, 5001}, {"bob", 5002, 5002}}

const secretHash = "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG."

type privServer struct {
	dir, log          string
	imap, imaps, pop3 string
	pop3s             string
	spool             string
	home              map[string]string
	mailGID           int
	cancel            context.CancelFunc
	done              chan int
	stderr            *bytes.Buffer
	t                 *testing.T
}

// startPrivServer runs serveCtx as root: alternate passwd/shadow with
// alice (5001) and bob (5002), their homes 0700 and INBOXes 0600 in a
// spool laid out as Debian's /var/mail (2775 root:mail, with
// mail_privileged_group = mail), STARTTLS on imap/pop3 and implicit TLS
// on imaps/pop3s.
func startPrivServer(t *testing.T) *privServer {
	testutil.RequireRoot(t, "dovecotd hands sessions to mail workers only when started as root")
	dir := t.TempDir()
	searchable(t, filepath.Join(dir, "x"))
	os.Chmod(dir, 0o755)
	s := &privServer{dir: dir, log: filepath.Join(dir, "dovecot.log"), spool: filepath.Join(dir, "spool"),
		home: map[string]string{}, mailGID: -1, t: t}
	if g, err := user.LookupGroup("mail"); err == nil {
		s.mailGID, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Mkdir(s.spool, 0o755); err != nil {
		t.Fatal(err)
	}
	if s.mailGID >= 0 {
		os.Chown(s.spool, 0, s.mailGID)
		os.Chmod(s.spool, 0o775|os.ModeSetgid)
	} else {
		os.Chmod(s.spool, 0o777|os.ModeSticky)
	}
	var passwd, shadow strings.Builder
	for _, u := range privUsers {
		home := filepath.Join(dir, "home", u.name)
		s.home[u.name] = home
		if err := os.MkdirAll(filepath.Join(home, "mail"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(home, u.uid, u.gid)
		os.Chown(filepath.Join(home, "mail"), u.uid, u.gid)
		os.Chmod(home, 0o700)
		inbox := filepath.Join(s.spool, u.name)
		msg := fmt.Sprintf("From a@x  Fri Nov 27 01:01:09 2026\nSubject: for %s\n\nhello %s\n\n", u.name, u.name)
		if err := os.WriteFile(inbox, []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chown(inbox, u.uid, u.gid)
		fmt.Fprintf(&passwd, "%s:x:%d:%d::%s:/bin/sh\n", u.name, u.uid, u.gid, home)
		fmt.Fprintf(&shadow, "%s:%s:19000:0:99999:7:::\n", u.name, secretHash)
	}
	os.MkdirAll(filepath.Join(dir, "home", "root0"), 0o700)
	os.Chmod(filepath.Join(dir, "home"), 0o755)
	fmt.Fprintf(&passwd, "root0:x:0:0::%s/home/root0:/bin/sh\n", dir)
	fmt.Fprintf(&shadow, "root0:%s:19000:0:99999:7:::\n", secretHash)
	fmt.Fprintf(&passwd, "wheel0:x:5003:0::%s/home/root0:/bin/sh\n", dir)
	fmt.Fprintf(&shadow, "wheel0:%s:19000:0:99999:7:::\n", secretHash)
	os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "shadow"), []byte(shadow.String()), 0o600)
	t.Setenv("MAILSUITE_PASSWD", filepath.Join(dir, "passwd"))
	t.Setenv("MAILSUITE_SHADOW", filepath.Join(dir, "shadow"))
	writeCert(t, dir)
	ports := []int{freePort(t), freePort(t), freePort(t), freePort(t)}
	s.imap, s.imaps = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.pop3, s.pop3s = fmt.Sprintf("127.0.0.1:%d", ports[2]), fmt.Sprintf("127.0.0.1:%d", ports[3])
	priv := ""
	if s.mailGID >= 0 {
		priv = "mail_privileged_group = mail"
	}
	conf := writeConf(t, fmt.Sprintf(`protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
first_valid_uid = 0
%[7]s
mail_location = mbox:~/mail:INBOX=%[1]s/spool/%%u
log_path = %[2]s
passdb {
  driver = shadow
}
userdb {
  driver = passwd
}
service imap-login {
  inet_listener imap {
    port = %[3]d
  }
  inet_listener imaps {
    port = %[4]d
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %[5]d
  }
  inet_listener pop3s {
    port = %[6]d
  }
}
`, dir, s.log, ports[0], ports[1], ports[2], ports[3], priv))
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done, s.stderr = cancel, make(chan int, 1), &bytes.Buffer{}
	ready := make(chan []net.Addr, 1)
	go func() { s.done <- serveCtx(ctx, conf, s.stderr, func(a []net.Addr) { ready <- a }) }()
	select {
	case <-ready:
	case code := <-s.done:
		t.Fatalf("serve exited %d: %s", code, s.stderr)
	}
	// POP3 listens in its own goroutine: wait for it.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", s.pop3)
		if err == nil {
			c.Close()
			break
		}
		if i == 200 {
			t.Fatalf("no pop3 listener: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("log:\n%s\nstderr:\n%s", b, s.stderr)
		}
	})
	return s
}

func (s *privServer) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		if code != 0 {
			s.t.Errorf("serve exit %d: %s", code, s.stderr)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("serve did not stop")
	}
}

func writeCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.hamap.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"mail.hamap.local"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// client is a line-oriented test client.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialClient(t *testing.T, addr string, implicitTLS bool) *client {
	t.Helper()
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// until reads lines up to and including the tagged reply of tag.
func (c *client) until(tag string) []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

func (c *client) startTLS(tag string) {
	c.t.Helper()
	c.send(tag + " STARTTLS\r\n")
	if l := c.line(); l != tag+" OK Begin TLS negotiation now." {
		c.t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
}

// mpid finds the mail process pid of user's last login in the log.
func (s *privServer) mpid(t *testing.T, service, user string) int {
	t.Helper()
	re := regexp.MustCompile(service + `-login: Login: user=<` + user + `>, .*mpid=(\d+)`)
	for i := 0; i < 100; i++ {
		b, _ := os.ReadFile(s.log)
		if m := re.FindAllSubmatch(b, -1); m != nil {
			pid, _ := strconv.Atoi(string(m[len(m)-1][1]))
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s login of %s in the log", service, user)
	return 0
}

// workerGid is the Gid line of /proc/<pid>/status a worker of a user
// whose gid is gid shows: mail_privileged_group (when the system has a
// mail group) is the saved gid, as in Dovecot's mail processes.
func (s *privServer) workerGid(gid int) string {
	saved := gid
	if s.mailGID >= 0 {
		saved = s.mailGID
	}
	return fmt.Sprintf("%d %d %d %d", gid, gid, saved, gid)
}

// procIDs returns the Uid, Gid and Groups lines of /proc/<pid>/status.
func procIDs(t *testing.T, pid int) (uid, gid, groups string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		v = strings.Join(strings.Fields(v), " ")
		switch k {
		case "Uid":
			uid = v
		case "Gid":
			gid = v
		case "Groups":
			groups = v
		}
	}
	return
}

// ownedBy checks a file's owner, group and mode as ls -n shows them.
func ownedBy(t *testing.T, path string, uid, gid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode() != mode {
		t.Errorf("%s: %v %d:%d, want %v %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

// TestPrivsepIMAP: alice's IMAP session, with commands pipelined right
// after LOGIN, runs in a worker with her uid and gid, the mail group
// only as saved gid;
// what it creates is hers with Dovecot's modes; bob's mbox stays out of
// her reach even through a symlink in her own folder tree.
func TestPrivsepIMAP(t *testing.T) {
	t.Setenv("DOVECOTD_TEST_SECRET", "root's")
	s := startPrivServer(t)
	c := dialClient(t, s.imap, false)
	c.line()
	msg := "Subject: kept\r\n\r\nhello\r\n"
	c.send("a LOGIN alice secret\r\nb SELECT INBOX\r\nc CREATE Work\r\nd SUBSCRIBE Work\r\n" +
		fmt.Sprintf("e APPEND Work {%d+}\r\n%s\r\nf FETCH 1 BODY[TEXT]\r\n", len(msg), msg))
	got := strings.Join(c.until("f"), "\n")
	for _, want := range []string{"a OK [CAPABILITY IMAP4rev1 ", "] Logged in", "* 1 EXISTS", "b OK [READ-WRITE]",
		"c OK", "d OK", "e OK [APPENDUID ", "hello alice", "f OK"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	pid := s.mpid(t, "imap", "alice")
	if pid == os.Getpid() {
		t.Fatal("alice's session runs in the root process")
	}
	uid, gid, groups := procIDs(t, pid)
	if uid != "5001 5001 5001 5001" || gid != s.workerGid(5001) {
		t.Errorf("worker %d: Uid %q Gid %q, want 5001 everywhere (and mail_privileged_group as saved gid)", pid, uid, gid)
	}
	if s.mailGID >= 0 && strings.Contains(" "+groups+" ", " "+strconv.Itoa(s.mailGID)+" ") {
		t.Errorf("worker %d: Groups %q hold mail_privileged_group %d", pid, groups, s.mailGID)
	}
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil || bytes.Contains(env, []byte("DOVECOTD_TEST_SECRET")) {
		t.Errorf("worker environment (%v) carries the root process's variables:\n%q", err, env)
	}
	// Is alice's INBOX open in that process (and not in ours)?
	inbox := filepath.Join(s.spool, "alice")
	if !holdsOpen(pid, inbox) {
		t.Errorf("worker %d does not hold %s open", pid, inbox)
	}
	if holdsOpen(os.Getpid(), inbox) {
		t.Errorf("the root process holds %s open", inbox)
	}
	mail := filepath.Join(s.home["alice"], "mail")
	ownedBy(t, filepath.Join(mail, "Work"), 5001, 5001, 0o600)
	ownedBy(t, filepath.Join(mail, ".subscriptions"), 5001, 5001, 0o600)
	ownedBy(t, filepath.Join(mail, ".imap"), 5001, 5001, os.ModeDir|0o700)

	// A symlink alice made to bob's INBOX: the worker (alice) may not
	// open it, where a root process would.
	if err := os.Symlink(filepath.Join(s.spool, "bob"), filepath.Join(mail, "peek")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(mail, "peek"), 5001, 5001)
	c.send("g SELECT peek\r\n")
	got = strings.Join(c.until("g"), "\n")
	if strings.Contains(got, "hello bob") || strings.Contains(got, "g OK") {
		t.Errorf("alice opened bob's mbox:\n%s", got)
	}
	c.send("h FETCH 1:* BODY[TEXT]\r\n")
	if got := strings.Join(c.until("h"), "\n"); strings.Contains(got, "hello bob") {
		t.Errorf("alice read bob's mail:\n%s", got)
	}
	c.send("z LOGOUT\r\n")
	c.until("z")
	s.stop()
	b, _ := os.ReadFile(s.log)
	re := regexp.MustCompile(fmt.Sprintf(`imap\(alice\)<%d><[^>]+>: Disconnected: Logged out in=(\d+) out=(\d+) `, pid))
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no logout line of worker %d:\n%s", pid, b)
	}
	if in, _ := strconv.Atoi(string(m[1])); in < 100 {
		t.Errorf("in=%d: the pipelined commands were not counted", in)
	}
	if b, _ := os.ReadFile(filepath.Join(s.spool, "bob")); !bytes.Contains(b, []byte("hello bob")) {
		t.Errorf("bob's INBOX changed:\n%s", b)
	}
}

// holdsOpen tells whether process pid has path open.
func holdsOpen(pid int, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// TestPrivsepPOP3: bob's POP3 session, pipelined, runs as bob; alice's
// and bob's workers are distinct processes.
func TestPrivsepPOP3(t *testing.T) {
	s := startPrivServer(t)
	a := dialClient(t, s.imap, false)
	a.line()
	a.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n")
	a.until("b")
	c := dialClient(t, s.pop3, false)
	if l := c.line(); l != "+OK Dovecot (Debian) ready." {
		t.Fatalf("greeting %q", l)
	}
	c.send("USER bob\r\nPASS secret\r\nSTAT\r\nRETR 1\r\n")
	var got []string
	for len(got) == 0 || got[len(got)-1] != "." {
		got = append(got, c.line())
	}
	want := "+OK\n+OK Logged in.\n+OK 1 31\n+OK 31 octets\nSubject: for bob\n\nhello bob\n."
	if strings.Join(got, "\n") != want {
		t.Errorf("dialogue:\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	pid := s.mpid(t, "pop3", "bob")
	if uid, gid, _ := procIDs(t, pid); uid != "5002 5002 5002 5002" || gid != s.workerGid(5002) {
		t.Errorf("worker %d: Uid %q Gid %q, want 5002", pid, uid, gid)
	}
	if apid := s.mpid(t, "imap", "alice"); apid == pid {
		t.Errorf("alice and bob share worker %d", pid)
	}
	c.send("QUIT\r\n")
	if l := c.line(); l != "+OK Logging out." {
		t.Errorf("QUIT: %q", l)
	}
	// POP3 over implicit TLS (proxied), as bob again: the same worker.
	c = dialClient(t, s.pop3s, true)
	c.line()
	c.send("USER bob\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")
	got = nil
	for len(got) < 4 {
		got = append(got, c.line())
	}
	if strings.Join(got, "\n") != "+OK\n+OK Logged in.\n+OK 1 31\n+OK Logging out." {
		t.Errorf("pop3s dialogue: %q", got)
	}
	if p2 := s.mpid(t, "pop3", "bob"); p2 != pid {
		t.Errorf("second session in worker %d, first in %d: one worker per user expected", p2, pid)
	}
}

// TestPrivsepTLSIdle: STARTTLS, login, IDLE through the proxy; a
// delivery reaches the session; killing the worker ends its sessions and
// the root process serves the next login with a new worker.
func TestPrivsepTLSIdle(t *testing.T) {
	s := startPrivServer(t)
	c := dialClient(t, s.imap, false)
	c.line()
	c.startTLS("s")
	c.send("a LOGIN alice secret\r\nb SELECT INBOX\r\nc IDLE\r\n")
	got := strings.Join(c.until("b"), "\n")
	if !strings.Contains(got, "] Logged in") || !strings.Contains(got, "* 1 EXISTS") {
		t.Fatalf("login/select over STARTTLS:\n%s", got)
	}
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	// A delivery as procmail would append it (as root, keeping the owner).
	f, err := os.OpenFile(filepath.Join(s.spool, "alice"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("From c@x  Fri Nov 27 02:01:09 2026\nSubject: new\n\nnew mail\n\n")
	f.Close()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l := c.line()
		if l == "* 2 EXISTS" {
			break
		}
	}
	c.send("DONE\r\n")
	c.until("c")
	b, _ := os.ReadFile(s.log)
	if !regexp.MustCompile(`imap-login: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=\d+, TLS, session=`).Match(b) {
		t.Errorf("no TLS login line:\n%s", b)
	}
	pid := s.mpid(t, "imap", "alice")
	if uid, _, _ := procIDs(t, pid); uid != "5001 5001 5001 5001" {
		t.Errorf("worker %d: Uid %q", pid, uid)
	}
	// imaps too, into the same worker.
	d := dialClient(t, s.imaps, true)
	d.line()
	d.send("a LOGIN alice secret\r\nb STATUS INBOX (MESSAGES)\r\n")
	if got := strings.Join(d.until("b"), "\n"); !strings.Contains(got, "(MESSAGES 2)") {
		t.Errorf("imaps STATUS:\n%s", got)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{c, d} {
		cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := cl.r.ReadString('\n'); err == nil {
			// A last line may be in flight; the next read must end.
			if _, err := cl.r.ReadString('\n'); err == nil {
				t.Error("session still open after its worker was killed")
			}
		}
	}
	// No wait for the reap: a session sent to the dying worker is not
	// acknowledged, and goes to a new one.
	e := dialClient(t, s.imap, false)
	e.line()
	e.send("a LOGIN alice secret\r\nb STATUS INBOX (MESSAGES)\r\n")
	if got := strings.Join(e.until("b"), "\n"); !strings.Contains(got, "(MESSAGES 2)") {
		t.Errorf("login after the worker died:\n%s", got)
	}
	if p2 := s.mpid(t, "imap", "alice"); p2 == pid {
		t.Errorf("new login went to the dead worker %d", pid)
	}
}

// TestPrivsepKillLogin: a login right after the user's worker was
// killed (SIGKILL, not waited for) is served by a new worker, every time.
func TestPrivsepKillLogin(t *testing.T) {
	s := startPrivServer(t)
	login := func(round int) {
		c := dialClient(t, s.imap, false)
		c.line()
		c.send("a LOGIN alice secret\r\nb STATUS INBOX (MESSAGES)\r\nc LOGOUT\r\n")
		if got := strings.Join(c.until("b"), "\n"); !strings.Contains(got, "* STATUS INBOX (MESSAGES ") {
			t.Fatalf("round %d: login after the worker was killed:\n%s", round, got)
		}
		c.until("c")
		c.c.Close()
	}
	login(0)
	for round := 1; round <= 10; round++ {
		pid := s.mpid(t, "imap", "alice")
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		login(round)
		if p2 := s.mpid(t, "imap", "alice"); p2 == pid {
			t.Fatalf("round %d: login went to the killed worker %d", round, pid)
		}
	}
}

// TestPrivsepRoot: a user with uid 0 logs in, and the mail process is
// refused as Dovecot refuses it, over IMAP and POP3; so is one whose
// group is root's (first_valid_gid = 1 by default).
func TestPrivsepRoot(t *testing.T) {
	s := startPrivServer(t)
	c := dialClient(t, s.imap, false)
	c.line()
	c.send("a LOGIN root0 secret\r\n")
	if l := c.line(); l != "a OK Logged in, but initialization failed." {
		t.Errorf("IMAP: %q", l)
	}
	if l := c.line(); !strings.HasPrefix(l, "* BYE Internal error occurred.") {
		t.Errorf("IMAP: %q", l)
	}
	p := dialClient(t, s.pop3, false)
	p.line()
	p.send("USER root0\r\nPASS secret\r\n")
	p.line()
	if l := p.line(); l != "-ERR [SYS/TEMP] Internal error occurred. Refer to server log for more information." {
		t.Errorf("POP3: %q", l)
	}
	g := dialClient(t, s.imap, false)
	g.line()
	g.send("a LOGIN wheel0 secret\r\n")
	if l := g.line(); l != "a OK Logged in, but initialization failed." {
		t.Errorf("IMAP gid 0: %q", l)
	}
	g.line()
	b, _ := os.ReadFile(s.log)
	for _, re := range []string{`imap\(root0\)<\d+><[^>]+>: Error: Mail access not allowed for root`,
		`pop3\(root0\)<\d+><[^>]+>: Error: Mail access not allowed for root`,
		`imap\(wheel0\)<\d+><[^>]+>: Error: Mail access for users with GID 0 not permitted \(see first_valid_gid in config file, gid from userdb lookup\)\.`} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("log has no %s:\n%s", re, b)
		}
	}
}

// TestPrivsepLogReopen: after logrotate's rename and SIGHUP, a running
// worker's lines go to the new log_path file.
func TestPrivsepLogReopen(t *testing.T) {
	s := startPrivServer(t)
	c := dialClient(t, s.imap, false)
	c.line()
	c.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n")
	c.until("b")
	pid := s.mpid(t, "imap", "alice")
	if err := os.Rename(s.log, s.log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(s.log); err == nil {
			break
		}
		if i == 500 {
			t.Fatal("log_path not reopened after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The notice reaches the worker on its control socket, in its own
	// time: sessions ended in the same worker (c keeps it alive) log to
	// the new file from some point on, and never again to the old one.
	want := regexp.MustCompile(fmt.Sprintf(`imap\(alice\)<%d><[^>]+>: Disconnected: Logged out`, pid))
	for i := 0; ; i++ {
		d := dialClient(t, s.imap, false)
		d.line()
		d.send("a LOGIN alice secret\r\nz LOGOUT\r\n")
		d.until("z")
		if p := s.mpid(t, "imap", "alice"); p != pid {
			t.Fatalf("login went to worker %d, not %d", p, pid)
		}
		b, _ := os.ReadFile(s.log)
		if want.Match(b) {
			break
		}
		if i == 100 {
			old, _ := os.ReadFile(s.log + ".1")
			t.Fatalf("logout lines not in the reopened log:\n%s\nold:\n%s", b, old)
		}
	}
	n := len(want.FindAll(mustRead(t, s.log+".1"), -1))
	c.send("z LOGOUT\r\n")
	c.until("z")
	s.stop()
	if m := len(want.FindAll(mustRead(t, s.log+".1"), -1)); m != n {
		t.Errorf("the worker still logs to the rotated file (%d lines, then %d)", n, m)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrivsepMailGroup: with Debian's spool (2775 root:mail, INBOXes
// 0660 user:mail) the worker keeps the mail group only as saved gid, as
// Dovecot does. A symlink alice makes in her folders to bob's INBOX gets
// her nowhere (with mail as a supplementary group it would), while her
// own INBOX is still created in the spool when missing (0600 alice:mail,
// as Dovecot makes it) and dotlocked there, waiting for a dotlock a
// delivery holds.
func TestPrivsepMailGroup(t *testing.T) {
	s := startPrivServer(t)
	if s.mailGID < 0 {
		t.Skip("no mail group on this system")
	}
	bobInbox, inbox := filepath.Join(s.spool, "bob"), filepath.Join(s.spool, "alice")
	os.Chown(bobInbox, 5002, s.mailGID)
	os.Chmod(bobInbox, 0o660)
	if err := os.Remove(inbox); err != nil {
		t.Fatal(err)
	}
	mail := filepath.Join(s.home["alice"], "mail")
	if err := os.Symlink(bobInbox, filepath.Join(mail, "steal")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(mail, "steal"), 5001, 5001)

	c := dialClient(t, s.imap, false)
	c.line()
	c.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n")
	if got := strings.Join(c.until("b"), "\n"); !strings.Contains(got, "* 0 EXISTS") || !strings.Contains(got, "b OK [READ-WRITE]") {
		t.Fatalf("SELECT of a missing INBOX:\n%s", got)
	}
	ownedBy(t, inbox, 5001, s.mailGID, 0o600)
	pid := s.mpid(t, "imap", "alice")
	// Dovecot: setresgid(5001, 5001, mail), setgroups(1, [5001]).
	if _, gid, groups := procIDs(t, pid); gid != s.workerGid(5001) || groups != "5001" {
		t.Errorf("worker %d: Gid %q Groups %q, want the mail group %d as saved gid only", pid, gid, groups, s.mailGID)
	}

	for _, cmd := range []string{"SELECT steal", "STATUS steal (MESSAGES)", "EXAMINE steal"} {
		c.send("c " + cmd + "\r\n")
		if got := strings.Join(c.until("c"), "\n"); strings.Contains(got, "c OK") || strings.Contains(got, "MESSAGES 1") {
			t.Errorf("%s reached bob's INBOX:\n%s", cmd, got)
		}
	}

	// A delivery holds the dotlock (its pid is alive, on this host):
	// APPEND waits for it, then locks and unlocks through the mail
	// group, leaving no lock behind.
	os.Chmod(inbox, 0o660)
	host, _ := os.Hostname()
	lock := inbox + ".lock"
	if err := os.WriteFile(lock, []byte(fmt.Sprintf("%d:%s", os.Getpid(), host)), 0o600); err != nil {
		t.Fatal(err)
	}
	held, _ := os.Stat(lock)
	msg := "Subject: waited\r\n\r\nafter the lock\r\n"
	c.send(fmt.Sprintf("d SELECT INBOX\r\ne APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg))
	c.until("d")
	time.Sleep(500 * time.Millisecond)
	if fi, err := os.Stat(lock); err != nil || !os.SameFile(fi, held) {
		t.Errorf("the delivery's dotlock was overridden while its owner lives (%v)", err)
	}
	os.Remove(lock)
	if got := strings.Join(c.until("e"), "\n"); !strings.Contains(got, "e OK [APPENDUID ") {
		t.Fatalf("APPEND after the dotlock went:\n%s", got)
	}
	c.send("f FETCH 1 BODY[TEXT]\r\nz LOGOUT\r\n")
	if got := strings.Join(c.until("f"), "\n"); !strings.Contains(got, "after the lock") {
		t.Errorf("FETCH:\n%s", got)
	}
	c.until("z")
	ents, _ := os.ReadDir(s.spool)
	for _, e := range ents {
		if n := e.Name(); n != "alice" && n != "bob" {
			t.Errorf("left in the spool: %s", n)
		}
	}
	ownedBy(t, inbox, 5001, s.mailGID, 0o660)
	if b, _ := os.ReadFile(bobInbox); !bytes.Contains(b, []byte("hello bob")) || bytes.Contains(b, []byte("X-UID")) {
		t.Errorf("bob's INBOX changed:\n%s", b)
	}
}
