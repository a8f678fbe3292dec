// SPDX-License-Identifier: MIT

package test

// This file runs the built dovecotd in serve mode on loopback and drives
// its POP3 side with a real client (fetchmail) and with concurrent IMAP
// and POP3 sessions racing deliveries on one mailbox.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

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
	users := fmt.Sprintf("b:%s:%d:%d::%s::\n", popUserHash, os.Getuid(), os.Getgid(), home)
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
