// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/mbox"
)

func self(name string) Recipient {
	return Recipient{Name: name, UID: os.Getuid(), GID: os.Getgid()}
}

func fixedNow() time.Time { return time.Date(2026, 11, 27, 1, 1, 9, 0, time.UTC) }

// procmailCases are messages whose framing procmail decides: missing and
// doubled final newlines, From lines in header and body, CRLF, a leading
// From_ line, an empty message.
var procmailCases = []struct{ name, msg string }{
	{"no final newline", "Subject: 1\n\na\nb"},
	{"one final newline", "Subject: 2\n\na\nb\n"},
	{"empty last line", "Subject: 3\n\na\nb\n\n"},
	{"two empty last lines", "Subject: 3b\n\na\n\n\n"},
	{"header only", "Subject: 4\n"},
	{"header no newline", "Subject: 5"},
	{"header and blank", "Subject: 6\n\n"},
	{"crlf", "Subject: 7\n\nx\r\nFrom y\r\n"},
	{"empty", ""},
	{"from lines", "Subject: x\nFrom y\n\nFrom a\nbody\n>From b\nFrom\n From c\nFromage\nlast\n"},
	{"leading from_ line", "From someone Fri Nov 27 01:01:09 2026\nSubject: 9\n\nFrom z\n"},
	{"long line", "Subject: 10\n\n" + strings.Repeat("From ", 30000) + "\nFrom end\n"},
}

func TestWriteMboxFraming(t *testing.T) {
	for _, tc := range []struct{ name, msg, want string }{
		{"no final newline", "S: 1\n\nb", "S: 1\n\nb\n"},
		{"final newline", "S: 1\n\nb\n", "S: 1\n\nb\n\n"},
		{"empty line at end", "S: 1\n\nb\n\n", "S: 1\n\nb\n\n"},
		{"empty", "", "\n"},
		{"from quoting", "S: 1\nFrom x\n\nFrom y\n>From z\n", "S: 1\n>From x\n\n>From y\n>From z\n\n"},
		{"own from_ line dropped", "From x y\nS: 1\n\nb\n", "S: 1\n\nb\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			if err := WriteMbox(w, "", fixedNow(), strings.NewReader(tc.msg)); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			want := "From MAILER-DAEMON  Fri Nov 27 01:01:09 2026\n" + tc.want
			if d := cmp.Diff(want, out.String()); d != "" {
				t.Error(d)
			}
		})
	}
}

var fromDate = regexp.MustCompile(`(?m)^(From \S+  )[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}$`)

// TestProcmailDifferential delivers the same messages with the real
// procmail (-d, in a private mount namespace whose /var/mail and
// /etc/passwd are test files) and with Spool, and compares the mailbox
// bytes with the From_ dates masked.
func TestProcmailDifferential(t *testing.T) {
	procmail := testutil.Oracle(t, "procmail", "procmail")
	testutil.RequireRoot(t, "procmail -d and mount namespaces")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o1777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(spool, 0o1777)
	base, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, append(base, []byte("pmtest:x:4242:4242:pm:"+dir+":/bin/sh\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	fmt.Fprintf(&script, "set -e; mount --bind %s /etc/passwd; mount --bind %s /var/mail\n", passwd, spool)
	for i, tc := range procmailCases {
		p := filepath.Join(dir, fmt.Sprintf("m%d", i))
		if err := os.WriteFile(p, []byte(tc.msg), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "%s -f a@hamap.local -t -Y -a '' -d pmtest < %s\n", procmail, p)
	}
	cmd := exec.Command(unshare, "-m", "sh", "-c", script.String())
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("procmail: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(spool, "pmtest"))
	if err != nil {
		t.Fatal(err)
	}

	ours := &Spool{Dir: t.TempDir(), Now: fixedNow}
	rcpt := self("ours")
	for _, tc := range procmailCases {
		if st := ours.Deliver(context.Background(), rcpt, "a@hamap.local", strings.NewReader(tc.msg)); !st.Sent() {
			t.Fatalf("%s: %+v", tc.name, st)
		}
	}
	got, err := os.ReadFile(ours.Path("ours"))
	if err != nil {
		t.Fatal(err)
	}
	mask := func(b []byte) string { return fromDate.ReplaceAllString(string(b), "${1}<date>") }
	if d := cmp.Diff(mask(want), mask(got)); d != "" {
		t.Errorf("mbox bytes (-procmail +ours):\n%s", d)
	}
	if !strings.Contains(mask(got), "From a@hamap.local  <date>\n") {
		t.Error("From_ date was not masked: the comparison would be vacuous")
	}
}

func TestDeliverCreatesMailbox(t *testing.T) {
	s := &Spool{Dir: t.TempDir(), Now: fixedNow}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if st := s.Deliver(context.Background(), self("u"), "a@b", strings.NewReader("S: x\n\nb\n")); !st.Sent() {
		t.Fatalf("%+v", st)
	}
	fi, err := os.Stat(s.Path("u"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("mode %v, want 0660", fi.Mode().Perm())
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != os.Getuid() {
		t.Errorf("owner %d", st.Uid)
	}
	if os.Geteuid() == 0 && int(st.Gid) != mailGID() {
		t.Errorf("group %d, want mail (%d)", st.Gid, mailGID())
	}
	if _, err := os.Stat(s.Path("u") + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dotlock left behind: %v", err)
	}
}

func TestDeliverCreatesForUserAsRoot(t *testing.T) {
	testutil.RequireRoot(t, "chown of a new mailbox")
	s := &Spool{Dir: t.TempDir(), Now: fixedNow}
	r := Recipient{Name: "b", UID: 1024, GID: 1024}
	if st := s.Deliver(context.Background(), r, "a@b", strings.NewReader("S: x\n\nb\n")); !st.Sent() {
		t.Fatalf("%+v", st)
	}
	fi, err := os.Stat(s.Path("b"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 1024 || int(st.Gid) != mailGID() || fi.Mode().Perm() != 0o660 {
		t.Errorf("got %d:%d %v, want 1024:%d 0660", st.Uid, st.Gid, fi.Mode().Perm(), mailGID())
	}
	// Owned by someone else from the spool's point of view.
	if st := s.Deliver(context.Background(), Recipient{Name: "b", UID: 1025}, "a@b", strings.NewReader("x\n")); st.Sent() || !st.Temporary() {
		t.Errorf("foreign mailbox: %+v", st)
	}
}

func TestDeliverRefusesUnsafe(t *testing.T) {
	dir := t.TempDir()
	s := &Spool{Dir: dir, Now: fixedNow}
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, s.Path("sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(target, s.Path("hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.Path("dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rcpt Recipient
	}{
		{"symlink", self("sym")},
		{"hard link", self("hard")},
		{"directory", self("dir")},
		{"other owner", Recipient{Name: "target", UID: os.Getuid() + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Append(context.Background(), tc.rcpt, "a@b", strings.NewReader("S: x\n\nevil\n"))
			if tc.name != "directory" && !errors.Is(err, ErrUnsafeMailbox) {
				t.Errorf("err = %v, want ErrUnsafeMailbox", err)
			}
			if err == nil {
				t.Error("delivered")
			}
			if st := s.Deliver(context.Background(), tc.rcpt, "a@b", strings.NewReader("x\n")); st.Sent() || !st.Temporary() {
				t.Errorf("status %+v, want deferred", st)
			}
		})
	}
	b, _ := os.ReadFile(target)
	if string(b) != "keep\n" {
		t.Errorf("target changed: %q", b)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if st := s.Deliver(context.Background(), self(bad), "a@b", strings.NewReader("x\n")); st.Code != ExNoUser {
			t.Errorf("user %q: %+v", bad, st)
		}
	}
}

// TestDeliverRollback makes the write fail at every point of a message and
// checks that the mailbox is left byte for byte as it was.
func TestDeliverRollback(t *testing.T) {
	s := &Spool{Dir: t.TempDir(), Now: fixedNow}
	r := self("u")
	if err := s.Append(context.Background(), r, "a@b", strings.NewReader("S: first\n\nbody\n")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(s.Path("u"))
	msg := "S: second\n\n" + strings.Repeat("line of text\n", 10000)
	for _, n := range []int64{1, 10, 46, 47, 100, 65536, 65537, 100000} {
		t.Run(strconv.FormatInt(n, 10), func(t *testing.T) {
			s.failAfter = n
			st := s.Deliver(context.Background(), r, "a@b", strings.NewReader(msg))
			s.failAfter = 0
			if st.Sent() || !st.Temporary() {
				t.Fatalf("status %+v, want a temporary failure", st)
			}
			after, _ := os.ReadFile(s.Path("u"))
			if !bytes.Equal(before, after) {
				t.Fatalf("mailbox changed: %d bytes, was %d", len(after), len(before))
			}
		})
	}
	if err := s.Append(context.Background(), r, "a@b", strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverBreaksStaleDotlock(t *testing.T) {
	s := &Spool{Dir: t.TempDir(), Now: fixedNow, Lock: mbox.LockOptions{Timeout: 10 * time.Second, DotlockChangeTimeout: time.Second}}
	lock := s.Path("u") + ".lock"
	// A lock left by a process that is gone.
	if err := os.WriteFile(lock, []byte("999999999:"+mustHost(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(lock, old, old)
	if err := s.Append(context.Background(), self("u"), "a@b", strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	// A live lock is waited for until the timeout.
	if err := os.WriteFile(lock, []byte(strconv.Itoa(os.Getpid())+":"+mustHost(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Lock = mbox.LockOptions{Timeout: 300 * time.Millisecond, DotlockChangeTimeout: time.Hour}
	st := s.Deliver(context.Background(), self("u"), "a@b", strings.NewReader("x\n"))
	if st.Code != ExTempFail {
		t.Errorf("held lock: %+v, want EX_TEMPFAIL", st)
	}
}

func mustHost(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const lockerEnv = "MAILSUITE_DELIVER_TEST_LOCKER"

// TestHelperLocker is not a test: run by TestConcurrentDeliver in another
// process, it takes and drops Dovecot-style write locks on a mailbox until
// its stdin closes.
func TestHelperLocker(t *testing.T) {
	path := os.Getenv(lockerEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		lk, err := mbox.LockFile(context.Background(), f, path, true, mbox.LockOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("locked")
		time.Sleep(3 * time.Millisecond)
		lk.Unlock()
		f.Close()
		time.Sleep(15 * time.Millisecond)
	}
}

// TestConcurrentDeliver: 20 deliverers append to one mailbox while another
// process holds Dovecot-style locks intermittently; every message arrives
// once and pkg/mbox parses the file cleanly.
func TestConcurrentDeliver(t *testing.T) {
	s := &Spool{Dir: t.TempDir()}
	r := self("u")
	if err := s.Append(context.Background(), r, "seed@x", strings.NewReader("Subject: seed\n\nseed\n")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLocker$")
	cmd.Env = append(os.Environ(), lockerEnv+"="+s.Path("u"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the locker really locks.
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("Subject: m%d\n\nFrom the test %d\n%s\n", i, i, strings.Repeat("x", 4000))
			errs <- s.Append(context.Background(), r, fmt.Sprintf("s%d@x", i), strings.NewReader(body))
		}()
	}
	wg.Wait()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("locker: %v", err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	mb, err := mbox.Open(context.Background(), s.Path("u"), mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close(context.Background())
	msgs := mb.Messages()
	if len(msgs) != n+1 {
		t.Fatalf("%d messages, want %d", len(msgs), n+1)
	}
	seen := map[string]int{}
	for _, m := range msgs[1:] {
		rd, err := mb.Reader(m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rd)
		subj, _, _ := strings.Cut(string(b), "\n")
		seen[subj]++
		if !strings.Contains(string(b), "\n>From the test ") || !strings.HasSuffix(strings.TrimRight(string(b), "\n"), "\n"+strings.Repeat("x", 4000)) {
			t.Errorf("%s: damaged body", subj)
		}
	}
	for i := range n {
		if c := seen[fmt.Sprintf("Subject: m%d", i)]; c != 1 {
			t.Errorf("message %d arrived %d times", i, c)
		}
	}
}

// BenchmarkLocalDeliver4K measures fsync'd appends of a 4 KiB message.
func BenchmarkLocalDeliver4K(b *testing.B) {
	s := &Spool{Dir: b.TempDir()}
	r := Recipient{Name: "u", UID: os.Getuid()}
	msg := "Subject: bench\n\n" + strings.Repeat(strings.Repeat("y", 63)+"\n", 64)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		if err := s.Append(context.Background(), r, "a@b", strings.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestConcurrentWithProcmail has the real procmail and Spool append to the
// same mailbox at the same time: both lock it the Debian way (fcntl and
// the .lock dotlock), so every message arrives once and whole.
func TestConcurrentWithProcmail(t *testing.T) {
	procmail := testutil.Oracle(t, "procmail", "procmail")
	testutil.RequireRoot(t, "procmail -d and mount namespaces")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(spool, 0o1777)
	base, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(dir, "passwd")
	os.WriteFile(passwd, append(base, []byte("pmtest:x:4242:4242:pm:"+dir+":/bin/sh\n")...), 0o644)
	s := &Spool{Dir: spool}
	r := Recipient{Name: "pmtest", UID: 4242, GID: 4242}
	if err := s.Append(context.Background(), r, "seed@x", strings.NewReader("Subject: seed\n\nseed\n")); err != nil {
		t.Fatal(err)
	}
	const nproc, ngo = 6, 20
	var script strings.Builder
	fmt.Fprintf(&script, "mount --bind %s /etc/passwd && mount --bind %s /var/mail || exit 1\n", passwd, spool)
	for i := range nproc {
		p := filepath.Join(dir, fmt.Sprintf("pm%d", i))
		os.WriteFile(p, []byte(fmt.Sprintf("Subject: pm%d\n\nFrom procmail %d\n%s\n", i, i, strings.Repeat("p", 4000))), 0o644)
		fmt.Fprintf(&script, "%s -f pm%d@x -t -Y -a '' -d pmtest < %s &\n", procmail, i, p)
	}
	script.WriteString("wait\n")
	cmd := exec.Command(unshare, "-m", "sh", "-c", script.String())
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, ngo)
	for i := range ngo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("Subject: go%d\n\nFrom go %d\n%s\n", i, i, strings.Repeat("g", 4000))
			errs <- s.Append(context.Background(), r, fmt.Sprintf("go%d@x", i), strings.NewReader(body))
		}()
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("procmail: %v\n%s", err, out.String())
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	mb, err := mbox.Open(context.Background(), s.Path("pmtest"), mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close(context.Background())
	msgs := mb.Messages()
	seen := map[string]int{}
	for _, m := range msgs[1:] {
		rd, err := mb.Reader(m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rd)
		subj, rest, _ := strings.Cut(string(b), "\n")
		seen[subj]++
		fill := "g"
		if strings.HasPrefix(subj, "Subject: pm") {
			fill = "p"
		}
		if !strings.HasPrefix(rest, "\n>From ") || !strings.HasSuffix(strings.TrimRight(rest, "\n"), strings.Repeat(fill, 4000)) {
			t.Errorf("%s: damaged message %.80q", subj, rest)
		}
	}
	if len(msgs) != 1+nproc+ngo {
		t.Errorf("%d messages, want %d", len(msgs), 1+nproc+ngo)
	}
	for i := range nproc {
		if c := seen[fmt.Sprintf("Subject: pm%d", i)]; c != 1 {
			t.Errorf("procmail's message %d arrived %d times", i, c)
		}
	}
	for i := range ngo {
		if c := seen[fmt.Sprintf("Subject: go%d", i)]; c != 1 {
			t.Errorf("our message %d arrived %d times", i, c)
		}
	}
}
