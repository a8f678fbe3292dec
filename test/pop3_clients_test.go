// SPDX-License-Identifier: MIT

package test

// This file runs the built dovecotd in serve mode on loopback and drives
// its POP3 side with a real client (fetchmail) and with concurrent IMAP
// and POP3 sessions racing deliveries on one mailbox.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/mbox"
)

// popPassword is b's password; popUserHash is its {SHA512-CRYPT} hash.
const (
	popPassword = "b-secret"
	popUserHash = "{SHA512-CRYPT}$6$abcdefgh$MxsobjqfFEN9icBdnbfNf7x6xHktiBf8NnfnH06XyQJi3/5wTchWYqmPV/n7dnrwZ7F9q1CUmR26/SARgAjUG0"
)

// mailServer is a running dovecotd serving b's INBOX (an mbox spool file).
type mailServer struct {
	pop3, imap string // host:port of the listeners
	inbox      string // b's INBOX
	log        string // dovecotd's log_path
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDovecotd writes a dovecot.conf with protocols = imap pop3 on
// 127.0.0.1, b's spool holding inbox, and runs the built dovecotd on it
// until the test ends (SIGTERM, as systemd stops it).
func startDovecotd(t *testing.T, inbox []byte) *mailServer {
	t.Helper()
	bin := filepath.Join(binDir(t), "dovecotd")
	dir := t.TempDir()
	home := filepath.Join(dir, "home", "b")
	for _, d := range []string{filepath.Join(home, "mail"), filepath.Join(dir, "spool")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &mailServer{inbox: filepath.Join(dir, "spool", "b"), log: filepath.Join(dir, "dovecot.log")}
	if err := os.WriteFile(s.inbox, inbox, 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid := popMailUser()
	users := fmt.Sprintf("b:%s:%d:%d::%s::\n", popUserHash, uid, gid, home)
	giveToMailUser(t, dir, uid, gid)
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	imapPort, pop3Port := freeLoopbackPort(t), freeLoopbackPort(t)
	s.imap = fmt.Sprintf("127.0.0.1:%d", imapPort)
	s.pop3 = fmt.Sprintf("127.0.0.1:%d", pop3Port)
	conf := filepath.Join(dir, "dovecot.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`protocols = imap pop3
listen = 127.0.0.1
ssl = no
first_valid_uid = 0
mail_location = mbox:~/mail:INBOX=%[1]s/spool/%%u
log_path = %[2]s
passdb {
  driver = passwd-file
  args = %[1]s/users
}
userdb {
  driver = passwd-file
  args = %[1]s/users
}
service imap-login {
  inet_listener imap {
    port = %[3]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %[4]d
  }
  inet_listener pop3s {
    port = 0
  }
}
`, dir, s.log, imapPort, pop3Port)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("dovecotd: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("dovecotd did not stop on SIGTERM")
		}
		if t.Failed() {
			log, _ := os.ReadFile(s.log)
			t.Logf("dovecotd log:\n%s", log)
		}
	})
	for _, addr := range []string{s.pop3, s.imap} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("dovecotd exited: %v\n%s", err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no listener on %s: %v\n%s", addr, err, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s
}

// popMailUser is the uid and gid b's mail belongs to: the invoking
// user's, or as root (where dovecotd refuses mail access for uid 0 and
// runs sessions in a worker with the user's credentials) uid 1000.
func popMailUser() (uid, gid int) {
	if os.Geteuid() == 0 {
		return 1000, 1000
	}
	return os.Getuid(), os.Getgid()
}

// giveToMailUser gives b's home and spool under dir to the mail user and
// makes the directories from dir up to the temporary directory
// searchable, as on a real system. It does nothing unless run as root.
func giveToMailUser(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, sub := range []string{"home", "spool"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Clean(os.TempDir())
	for p := dir; len(p) > len(tmp) && p != "/"; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
}

// fetchmailMessages are b's mail as a procmail-style writer leaves it:
// From_ lines, no Dovecot headers, a quoted ">From " and lines starting
// with dots that POP3 must dot-stuff and fetchmail unstuff.
var fetchmailMessages = []struct{ from, header, body string }{
	{"alice@example.org", "From: Alice <alice@example.org>\nTo: b@example.org\nSubject: first\nMessage-ID: <f1@example.org>\n",
		"Hello b,\n\nthe first message.\n"},
	{"carol@example.org", "From: carol@example.org\nTo: b@example.org\nSubject: dots and From\nMessage-ID: <f2@example.org>\n",
		".leading dot\n..two dots\n.\n>From the quoted line\nend\n"},
	{"MAILER-DAEMON", "From: dave@example.org\nTo: b@example.org\nSubject: third\nMessage-ID: <f3@example.org>\n",
		"a longer body\n" + strings.Repeat("0123456789 abcdefghij\n", 40)},
}

// TestFetchmail downloads b's mail with fetchmail (POP3, USER/PASS,
// --nokeep, an MDA writing one file per message) from the built dovecotd:
// every message arrives with its headers and body intact (fetchmail
// downloads with TOP n 2147483647 when it can, else RETR), the mailbox is
// empty afterwards, and a second run finds nothing (exit 1).
func TestFetchmail(t *testing.T) {
	fetchmail := testutil.Oracle(t, "fetchmail", "fetchmail")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "fetchmail runs in a private mount namespace so that it resolves nothing outside loopback")

	var spool strings.Builder
	for i, m := range fetchmailMessages {
		fmt.Fprintf(&spool, "From %s  Fri Nov 27 01:0%d:09 2026\n%s\n%s\n", m.from, i, m.header, m.body)
	}
	s := startDovecotd(t, []byte(spool.String()))

	work := t.TempDir()
	out := filepath.Join(work, "out")
	home := filepath.Join(work, "home")
	for _, d := range []string{out, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A private resolv.conf and hosts file: fetchmail qualifies its own
	// host name for the Received: header it adds.
	hostname, _ := os.Hostname()
	resolv, hosts := filepath.Join(work, "resolv.conf"), filepath.Join(work, "hosts")
	os.WriteFile(resolv, []byte("nameserver 127.0.0.1\n"), 0o644)
	os.WriteFile(hosts, []byte("127.0.0.1 localhost "+hostname+"\n"), 0o644)
	_, port, _ := net.SplitHostPort(s.pop3)
	rc := filepath.Join(home, ".fetchmailrc")
	err := os.WriteFile(rc, []byte(fmt.Sprintf(`set no bouncemail
poll 127.0.0.1 service %s protocol pop3 auth password timeout 20
  user "b" password "%s"
  nokeep sslproto ''
  mda "/bin/sh -c 'cat > $(mktemp %s/msg.XXXXXX)'"
`, port, popPassword, out)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func() (string, int) {
		t.Helper()
		script := `mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"`
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, unshare, "-m", "/bin/sh", "-c", script, "sh", resolv, hosts,
			fetchmail, "-f", rc, "-v", "--nosyslog", "--idfile", filepath.Join(home, ".fetchids"))
		cmd.Env = []string{"HOME=" + home, "FETCHMAILHOME=" + home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
		cmd.Dir = work
		b, err := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("fetchmail: %v\n%s", err, b)
		}
		return string(b), code
	}

	transcript, code := fetch()
	if code != 0 {
		t.Fatalf("fetchmail exit %d, want 0:\n%s", code, transcript)
	}
	got := readDelivered(t, out)
	var want []delivered
	for _, m := range fetchmailMessages {
		want = append(want, delivered{Header: m.header, Body: m.body})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages fetchmail delivered (-want +got):\n%s\ntranscript:\n%s", diff, transcript)
	}
	if !strings.Contains(transcript, "3 messages for b at 127.0.0.1") {
		t.Errorf("fetchmail did not report 3 messages:\n%s", transcript)
	}
	if n := len(spoolMessages(t, s.inbox)); n != 0 {
		t.Errorf("%d messages left in b's mailbox after fetchmail --nokeep", n)
	}

	transcript, code = fetch()
	if code != 1 {
		t.Errorf("second fetchmail run: exit %d, want 1 (no mail):\n%s", code, transcript)
	}
	if !strings.Contains(transcript, "No mail for b at 127.0.0.1") {
		t.Errorf("second fetchmail run did not report no mail:\n%s", transcript)
	}
	if got := readDelivered(t, out); len(got) != len(fetchmailMessages) {
		t.Errorf("second run delivered again: %d files, want %d", len(got), len(fetchmailMessages))
	}
	log, _ := os.ReadFile(s.log)
	if !regexp.MustCompile(`pop3\(b\)<\d+><[^>]+>: Disconnected: Logged out (top=3/\d+, retr=0/0|top=0/0, retr=3/\d+), del=3/3, size=\d+`).Match(log) {
		t.Errorf("no pop3 logout line for fetchmail's session in the log:\n%s", log)
	}
}

// delivered is one message as fetchmail's MDA received it, without the
// Received: header fetchmail puts on top.
type delivered struct{ Header, Body string }

func readDelivered(t *testing.T, dir string) []delivered {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "msg.*"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []delivered
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		head, body, ok := strings.Cut(string(b), "\n\n")
		if !ok {
			t.Errorf("%s: no header/body separator:\n%s", n, b)
			continue
		}
		// Drop fetchmail's Received: field (with its continuation lines).
		var kept []string
		inReceived := false
		for _, l := range strings.SplitAfter(head+"\n", "\n") {
			if l == "" {
				continue
			}
			if strings.HasPrefix(l, "Received:") {
				inReceived = true
				continue
			}
			if inReceived && (l[0] == ' ' || l[0] == '\t') {
				continue
			}
			inReceived = false
			kept = append(kept, l)
		}
		msgs = append(msgs, delivered{Header: strings.Join(kept, ""), Body: body})
	}
	// The MDA's file names are random: order by Message-ID.
	sort.Slice(msgs, func(i, j int) bool {
		return messageID(msgs[i].Header) < messageID(msgs[j].Header)
	})
	return msgs
}

var reMessageID = regexp.MustCompile(`(?mi)^Message-ID: <([^>]+)>\r?$`)

func messageID(s string) string {
	if m := reMessageID.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// spoolMessages parses the mbox file with pkg/mbox (read-only) and returns
// the Message-ID of each message in order; a parse failure fails the test.
func spoolMessages(t *testing.T, path string) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := mbox.Open(ctx, path, mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	defer mb.Close(ctx)
	var ids []string
	var last uint32
	for _, m := range mb.Messages() {
		if m.UID <= last {
			t.Errorf("%s: UID %d after %d", path, m.UID, last)
		}
		last = m.UID
		r, err := mb.Reader(m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, messageID(string(b)))
	}
	return ids
}

// popClient is a minimal POP3 client for the concurrency test.
type popClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialPOP3(t *testing.T, addr string) (*popClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &popClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	if l, err := c.line(); err != nil || !strings.HasPrefix(l, "+OK") {
		conn.Close()
		return nil, fmt.Errorf("greeting %q: %v", l, err)
	}
	return c, nil
}

func (c *popClient) line() (string, error) {
	l, err := c.r.ReadString('\n')
	if err == nil && !strings.HasSuffix(l, "\r\n") {
		err = fmt.Errorf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n"), err
}

// cmd sends a command and returns its status line; a reply other than
// +OK is an error.
func (c *popClient) cmd(format string, args ...any) (string, error) {
	cmd := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintf(c.conn, "%s\r\n", cmd); err != nil {
		return "", err
	}
	l, err := c.line()
	if err == nil && !strings.HasPrefix(l, "+OK") {
		err = fmt.Errorf("%s: %q", cmd, l)
	}
	return l, err
}

// multi sends a command with a multi-line answer and returns the
// dot-unstuffed lines, LF-terminated.
func (c *popClient) multi(format string, args ...any) (string, error) {
	if _, err := c.cmd(format, args...); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		l, err := c.line()
		if err != nil {
			return "", err
		}
		if l == "." {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		b.WriteByte('\n')
	}
}

// concurrentBody is the body every message of the concurrency test has,
// so that a message cut or spliced by a racing writer shows.
func concurrentBody(id string) string {
	return "body of " + id + "\n" + strings.Repeat(id+" padding line\n", 8)
}

// TestConcurrentIMAPAndPOP3 races, on one mbox, deliveries by a local
// writer (pkg/mbox Append under the write lock, one open per message as
// separate delivery processes do) and by IMAP APPEND, an IMAP session that
// reads everything and sets \Seen (which makes the server rewrite Status
// headers), and POP3 sessions that download and delete everything. No
// message may be lost or duplicated: each Message-ID is either downloaded
// by exactly one POP3 session that ended in a successful QUIT or still in
// the mailbox, which must parse cleanly, with whole bodies, and which IMAP
// must list as the file does. The cases add the racers one by one.
//
// deliver+pop3+imap-read used to fail (issue 7): pkg/mbox dropped a POP3
// session's pending \Deleted marks when the write lock's sync found that
// the IMAP session had written \Seen on the same messages, so the expunge
// at QUIT removed nothing and the next session downloaded them again
// (pkg/mbox TestPendingChangesSurviveOtherWriters).
func TestConcurrentIMAPAndPOP3(t *testing.T) {
	for _, tc := range []struct {
		name             string
		pop3, imap, save bool // POP3 downloader, IMAP reader, IMAP APPEND deliveries
	}{
		{name: "deliver+pop3", pop3: true},
		{name: "deliver+pop3+imap-read", pop3: true, imap: true},
		{name: "deliver+imap-append+imap-read", imap: true, save: true},
		{name: "all", pop3: true, imap: true, save: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			concurrentSessions(t, tc.pop3, tc.imap, tc.save)
		})
	}
}

func concurrentSessions(t *testing.T, withPOP3, withIMAP, withAppend bool) {
	s := startDovecotd(t, nil)
	const local = 40
	appended := 0
	if withAppend {
		appended = 20
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var deliveries sync.WaitGroup
	deliveries.Add(2)
	go func() { // the local delivery agent
		defer deliveries.Done()
		for i := 0; i < local && ctx.Err() == nil; i++ {
			id := fmt.Sprintf("d%d@test", i)
			msg := fmt.Sprintf("From: a@test\nSubject: %s\nMessage-ID: <%s>\n\n%s", id, id, concurrentBody(id))
			mb, err := mbox.Open(ctx, s.inbox, mbox.Options{Create: true})
			if err != nil {
				t.Errorf("delivery %s: %v", id, err)
				return
			}
			_, err = mb.Append(ctx, strings.NewReader(msg), mbox.AppendOptions{Sender: "a@test"})
			if cerr := mb.Close(ctx); err == nil {
				err = cerr
			}
			if err != nil {
				t.Errorf("delivery %s: %v", id, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() { // an IMAP client saving into INBOX
		defer deliveries.Done()
		if appended == 0 {
			return
		}
		c, err := imapclient.DialInsecure(s.imap, nil)
		if err != nil {
			t.Errorf("imap append: %v", err)
			return
		}
		defer c.Close()
		if err := c.Login("b", popPassword).Wait(); err != nil {
			t.Errorf("imap append login: %v", err)
			return
		}
		for i := 0; i < appended && ctx.Err() == nil; i++ {
			id := fmt.Sprintf("a%d@test", i)
			msg := fmt.Sprintf("From: c@test\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\n%s", id, id,
				strings.ReplaceAll(concurrentBody(id), "\n", "\r\n"))
			cmd := c.Append("INBOX", int64(len(msg)), nil)
			if _, err := io.WriteString(cmd, msg); err != nil {
				t.Errorf("APPEND %s: %v", id, err)
				return
			}
			if err := cmd.Close(); err != nil {
				t.Errorf("APPEND %s: %v", id, err)
				return
			}
			if _, err := cmd.Wait(); err != nil {
				t.Errorf("APPEND %s: %v", id, err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.Logout().Wait()
	}()
	delivered := make(chan struct{})
	go func() { deliveries.Wait(); close(delivered) }()

	var mu sync.Mutex
	downloaded := map[string]int{}
	// popSession downloads every message (or, with keepEven, only the odd
	// ones) and deletes what it downloaded; the downloads count once QUIT
	// has answered that the messages are deleted.
	popSession := func(keepEven bool) error {
		c, err := dialPOP3(t, s.pop3)
		if err != nil {
			return err
		}
		defer c.conn.Close()
		if _, err := c.cmd("USER b"); err != nil {
			return err
		}
		if _, err := c.cmd("PASS %s", popPassword); err != nil {
			return err
		}
		stat, err := c.cmd("STAT")
		if err != nil {
			return err
		}
		var n, size int
		if _, err := fmt.Sscanf(stat, "+OK %d %d", &n, &size); err != nil {
			return fmt.Errorf("STAT: %q", stat)
		}
		if _, err := c.multi("UIDL"); err != nil {
			return err
		}
		var got []string
		for i := 1; i <= n; i++ {
			if keepEven && i%2 == 0 {
				continue
			}
			msg, err := c.multi("RETR %d", i)
			if err != nil {
				return err
			}
			id := messageID(msg)
			_, body, _ := strings.Cut(msg, "\n\n")
			if id == "" || body != concurrentBody(id) {
				return fmt.Errorf("RETR %d: broken message %q", i, msg)
			}
			got = append(got, id)
			if _, err := c.cmd("DELE %d", i); err != nil {
				return err
			}
		}
		quit, err := c.cmd("QUIT")
		if err != nil {
			return err
		}
		if len(got) > 0 && quit != "+OK Logging out, messages deleted." {
			return fmt.Errorf("QUIT after DELE: %q", quit)
		}
		mu.Lock()
		for _, id := range got {
			downloaded[id]++
		}
		mu.Unlock()
		return nil
	}

	var readers sync.WaitGroup
	readers.Add(2)
	go func() { // POP3 users downloading while mail arrives
		defer readers.Done()
		for withPOP3 {
			select {
			case <-delivered:
				return
			case <-ctx.Done():
				return
			default:
			}
			if err := popSession(false); err != nil {
				t.Errorf("pop3 session: %v", err)
				return
			}
		}
	}()
	imapSessions := 0
	go func() { // an IMAP user reading and marking mail \Seen
		defer readers.Done()
		for withIMAP {
			select {
			case <-delivered:
				return
			case <-ctx.Done():
				return
			default:
			}
			imapSessions++
			if err := imapReadSession(s.imap, true); err != nil {
				t.Errorf("imap session: %v", err)
				return
			}
		}
	}()
	readers.Wait()
	<-delivered
	if ctx.Err() != nil {
		t.Fatalf("not done within the time limit: %v", ctx.Err())
	}
	// Four more deliveries, and a last POP3 session that leaves the
	// even-numbered messages, so that both sides of the count have
	// something in them.
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("t%d@test", i)
		msg := fmt.Sprintf("From: a@test\nSubject: %s\nMessage-ID: <%s>\n\n%s", id, id, concurrentBody(id))
		mb, err := mbox.Open(ctx, s.inbox, mbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Append(ctx, strings.NewReader(msg), mbox.AppendOptions{Sender: "a@test"}); err != nil {
			t.Fatal(err)
		}
		if err := mb.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := popSession(true); err != nil {
		t.Fatalf("last pop3 session: %v", err)
	}

	left := spoolMessages(t, s.inbox)
	seen := map[string]int{}
	for id, n := range downloaded {
		seen[id] += n
	}
	for _, id := range left {
		seen[id]++
	}
	want := map[string]int{}
	for i := 0; i < local; i++ {
		want[fmt.Sprintf("d%d@test", i)] = 1
	}
	for i := 0; i < appended; i++ {
		want[fmt.Sprintf("a%d@test", i)] = 1
	}
	for i := 0; i < 4; i++ {
		want[fmt.Sprintf("t%d@test", i)] = 1
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("times each message was downloaded or left (-want +got):\n%s", diff)
	}
	if len(downloaded) == 0 || len(left) == 0 {
		t.Errorf("%d messages downloaded, %d left: the test raced nothing", len(downloaded), len(left))
	}
	// The server's view of what is left agrees with the file's.
	ids, err := imapMessageIDs(s.imap)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(left, ids); diff != "" {
		t.Errorf("IMAP's view of the mailbox differs from the file's (-file +imap):\n%s", diff)
	}
	t.Logf("%d POP3 downloads, %d IMAP sessions, %d messages left", len(downloaded), imapSessions, len(left))
}

// imapReadSession logs in, selects INBOX, fetches every message with
// UID FETCH 1:* BODY.PEEK[] (sequence numbers move under it as POP3
// sessions delete), checks each body is whole and no Message-ID appears
// twice, and with markSeen stores \Seen on all of them.
func imapReadSession(addr string, markSeen bool) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login("b", popPassword).Wait(); err != nil {
		return err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("UID FETCH: %w", err)
	}
	ids := map[string]imap.UID{}
	for _, m := range msgs {
		raw := strings.ReplaceAll(string(m.FindBodySection(section)), "\r\n", "\n")
		id := messageID(raw)
		_, body, _ := strings.Cut(raw, "\n\n")
		if id == "" || body != concurrentBody(id) {
			return fmt.Errorf("UID %d: broken message %q", m.UID, raw)
		}
		if uid, ok := ids[id]; ok {
			return fmt.Errorf("%s twice, UIDs %d and %d", id, uid, m.UID)
		}
		ids[id] = m.UID
	}
	if markSeen && len(msgs) > 0 {
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}
		if err := c.Store(all, store, nil).Close(); err != nil {
			return fmt.Errorf("UID STORE: %w", err)
		}
	}
	return c.Logout().Wait()
}

// imapMessageIDs returns the Message-IDs of INBOX's messages in UID order.
func imapMessageIDs(addr string) ([]string, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login("b", popPassword).Wait(); err != nil {
		return nil, err
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("UID FETCH: %w", err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
	var ids []string
	for _, m := range msgs {
		ids = append(ids, messageID(string(m.FindBodySection(section))))
	}
	return ids, c.Logout().Wait()
}
