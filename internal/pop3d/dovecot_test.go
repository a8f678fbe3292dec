// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/mbox"
)

// realPOP3 runs Dovecot's /usr/lib/dovecot/pop3 preauthenticated on
// stdio with its own configuration: the INBOX at <dir>/inbox, indexes
// under <dir>, no daemon, no network, TZ UTC. As root, the files are
// handed to uid 65534, since Dovecot refuses to access mail as root.
type realPOP3 struct {
	bin, dir, conf, user string
}

func newRealPOP3(t testing.TB, extra string) *realPOP3 {
	t.Helper()
	bin := testutil.Oracle(t, "/usr/lib/dovecot/pop3", "dovecot-pop3d")
	dir := t.TempDir()
	d := &realPOP3{bin: bin, dir: dir, conf: filepath.Join(dir, "dovecot.conf"), user: os.Getenv("USER")}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/run
log_path = %[1]s/dovecot.log
mail_location = mbox:%[1]s/mail:INBOX=%[1]s/mail/inbox:INDEX=%[1]s/mail/index
ssl = no
mbox_write_locks = fcntl
`, dir)
	if os.Geteuid() == 0 {
		for _, q := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(q, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		conf += "mail_uid = 65534\nmail_gid = 65534\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"
		d.user = "nobody"
	}
	if d.user == "" {
		d.user = "mailsuite"
	}
	conf += extra
	for _, sub := range []string{"mail", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *realPOP3) inbox() string { return filepath.Join(d.dir, "mail", "inbox") }

// put installs data as the INBOX.
func (d *realPOP3) put(t testing.TB, data []byte) {
	t.Helper()
	if err := os.WriteFile(d.inbox(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		for _, q := range []string{filepath.Join(d.dir, "mail"), d.inbox()} {
			if err := os.Chown(q, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// command prepares a run of the pop3 binary, killed after a minute.
func (d *realPOP3) command() *exec.Cmd {
	cmd := exec.Command(d.bin, "-c", d.conf)
	cmd.Env = []string{"USER=" + d.user, "HOME=" + d.dir, "TZ=UTC", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = time.Minute
	return cmd
}

// session sends the commands (QUIT appended) and returns the output.
func (d *realPOP3) session(t testing.TB, cmds []string) []byte {
	t.Helper()
	cmd := d.command()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// stdin stays open until Dovecot has answered QUIT: at EOF it
	// drops the session.
	go func() {
		io.WriteString(stdin, strings.Join(append(cmds, "QUIT"), "\r\n")+"\r\n")
	}()
	err = cmd.Wait()
	stdin.Close()
	if err != nil {
		t.Fatalf("dovecot pop3: %v\n%s\n%s", err, stderr.String(), out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("+OK Logging out")) {
		t.Fatalf("dovecot pop3 did not log out:\n%s%s", out.String(), stderr.String())
	}
	return out.Bytes()
}

// oursSession logs in to our server for the file at inbox and sends the
// commands (QUIT appended) in one write, returning what follows the login.
func oursSession(t testing.TB, inbox string, cmds []string, mod func(*Config)) []byte {
	t.Helper()
	ts := startServer(t, nil, func(c *Config) {
		c.MailLocation = "mbox:" + filepath.Join(filepath.Dir(inbox), "oursmail") + ":INBOX=" + inbox
		if mod != nil {
			mod(c)
		}
	})
	c, _ := dial(t, ts.addr)
	c.login()
	c.send(strings.Join(append(cmds, "QUIT"), "\r\n"))
	out, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var reIMAPBase = regexp.MustCompile(`(?m)^X-IMAP(?:base)?: (\d+) `)

// uidValidity reads the UIDVALIDITY a server wrote into an mbox file.
func uidValidity(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := reIMAPBase.FindSubmatch(b)
	if m == nil {
		return ""
	}
	v, _ := strconv.ParseUint(string(m[1]), 10, 32)
	return fmt.Sprintf("%08x", v)
}

// normalize replaces a file's UIDVALIDITY in UIDL replies: a fresh file
// gets a new one from each server.
func normalize(out []byte, uv string) string {
	if uv == "" {
		return string(out)
	}
	return strings.ReplaceAll(string(out), uv, "<uidvalidity>")
}

// script is the differential command list for a mailbox of n messages:
// every read command on every message, bad arguments, then deletions.
func script(n int) (read, del []string) {
	read = []string{"CAPA", "STAT", "LIST", "UIDL", "NOOP", "LAST", "RETR 0", "RETR 99999",
		"TOP 1", "TOP 1 x", "TOP x 1", "LIST 1 2", "UIDL x", "RETR 4294967296", "TOP 1 99999999999999999999", "LIST  1", "retr 1x"}
	for i := 1; i <= n; i++ {
		read = append(read, fmt.Sprintf("LIST %d", i), fmt.Sprintf("UIDL %d", i), fmt.Sprintf("RETR %d", i),
			fmt.Sprintf("TOP %d 0", i), fmt.Sprintf("TOP %d 1", i), fmt.Sprintf("TOP %d 3", i))
	}
	for i := 1; i <= n; i += 2 {
		del = append(del, fmt.Sprintf("DELE %d", i))
	}
	del = append(del, "DELE 1", "RETR 1", "STAT", "LIST", "UIDL", "RSET", "STAT")
	for i := 1; i <= n; i += 2 {
		del = append(del, fmt.Sprintf("DELE %d", i))
	}
	del = append(del, "STAT", "LIST", "UIDL")
	return read, del
}

// view is what a read-only POP3 session shows of a mailbox.
var viewCmds = []string{"STAT", "LIST", "UIDL"}

func viewOf(n int) []string {
	cmds := append([]string(nil), viewCmds...)
	for i := 1; i <= n; i++ {
		cmds = append(cmds, fmt.Sprintf("RETR %d", i))
	}
	return cmds
}

var reStat = regexp.MustCompile(`^\+OK (\d+) `)

func countOf(t testing.TB, out []byte) int {
	m := reStat.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no STAT reply in %q", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestDifferential gives every test mailbox to real Dovecot's pop3 and to
// ours: the replies to the same command stream must be identical; after
// DELE+QUIT the two resulting files must hold the same messages with the
// same UIDs and flags; and each server must show the other's result as
// the other shows it.
func TestDifferential(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "mbox", "*.mbox"))
	if len(files) == 0 {
		t.Fatal("no test mailboxes")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".mbox")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			real := newRealPOP3(t, "")
			real.put(t, data)
			n := countOf(t, real.session(t, []string{"STAT"}))
			// The first look wrote UIDs; start both from the original
			// again so that each side assigns them itself.
			real = newRealPOP3(t, "")
			real.put(t, data)
			ourDir := t.TempDir()
			ourInbox := filepath.Join(ourDir, "inbox")
			if err := os.WriteFile(ourInbox, data, 0o600); err != nil {
				t.Fatal(err)
			}

			read, del := script(n)
			cmds := append(read, del...)
			realOut := real.session(t, cmds)
			ourOut := oursSession(t, ourInbox, cmds, nil)
			realUV, ourUV := uidValidity(t, real.inbox()), uidValidity(t, ourInbox)
			if diff := cmp.Diff(normalize(realOut, realUV), normalize(ourOut, ourUV)); diff != "" {
				t.Errorf("replies differ (-dovecot +ours):\n%s", diff)
			}
			realState, ourState := mboxState(t, real.inbox()), mboxState(t, ourInbox)
			if diff := cmp.Diff(realState, ourState); diff != "" {
				t.Errorf("mailboxes after QUIT differ (-dovecot +ours):\n%s", diff)
			}

			// Each server's view of each result.
			view := viewOf(len(realState))
			realResult, _ := os.ReadFile(real.inbox())
			ourResult, _ := os.ReadFile(ourInbox)
			views := map[string]string{}
			for _, r := range []struct {
				name string
				data []byte
			}{{"dovecot-result", realResult}, {"our-result", ourResult}} {
				rv := newRealPOP3(t, "")
				rv.put(t, r.data)
				views["dovecot on "+r.name] = normalize(rv.session(t, view), uidValidity(t, rv.inbox()))
				p := filepath.Join(t.TempDir(), "inbox")
				os.WriteFile(p, r.data, 0o600)
				views["ours on "+r.name] = normalize(oursSession(t, p, view, nil), uidValidity(t, p))
			}
			want := views["dovecot on dovecot-result"]
			for k, v := range views {
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("%s differs from dovecot on its own result (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

// msgState is what must survive a POP3 session: UID, flags, keywords and
// the visible message.
type msgState struct {
	UID      uint32
	Flags    mbox.Flag
	Keywords []string
	Body     string
}

func mboxState(t testing.TB, path string) []msgState {
	t.Helper()
	mb, err := mbox.Open(context.Background(), path, mbox.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer mb.Close(context.Background())
	var out []msgState
	for _, m := range mb.Messages() {
		r, err := mb.Reader(m.UID)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		if _, err := io.Copy(bw, r); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		out = append(out, msgState{UID: m.UID, Flags: m.Flags, Keywords: m.Keywords, Body: b.String()})
	}
	return out
}

// keepKeywordsAboveBase allows the one difference pkg/mbox makes on
// purpose: in lifecycle/07 the first message carries X-Keywords above
// X-IMAPbase (Dovecot's own expunge put it there). Dovecot reading the
// file without its index drops those keywords when it rewrites; with its
// index it keeps them, and so do we (pkg/mbox TestDovecotKeywordsBeforeBase),
// so a switch from Dovecot keeps what the user saw. Keywords the input's
// first message had and Dovecot's result lost are removed from ours here.
func keepKeywordsAboveBase(t *testing.T, input []byte, real, ours []msgState) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(path, input, 0o600); err != nil {
		t.Fatal(err)
	}
	in := mboxState(t, path)
	if len(in) == 0 || len(real) == 0 || len(ours) == 0 || real[0].UID != in[0].UID || ours[0].UID != in[0].UID {
		return
	}
	lost := map[string]bool{}
	for _, k := range in[0].Keywords {
		if !slices.Contains(real[0].Keywords, k) {
			lost[k] = true
		}
	}
	ours[0].Keywords = slices.DeleteFunc(slices.Clone(ours[0].Keywords), func(k string) bool { return lost[k] })
}

// TestDifferentialSettings repeats the comparison with the pop3_* settings
// that change what POP3 does to the mailbox.
func TestDifferentialSettings(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "mbox", "lifecycle-07-deleted-expunge.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		conf string
		mod  func(*Config)
	}{
		{"no-flag-updates", "pop3_no_flag_updates = yes\n", func(c *Config) { c.NoFlagUpdates = true }},
		{"deleted-flag", "pop3_deleted_flag = POP3Deleted\n", func(c *Config) { c.DeletedFlag = "POP3Deleted" }},
		{"uidl-format", "pop3_uidl_format = %v.%u-%4v-%08u\n", func(c *Config) { c.UIDLFormat = "%v.%u-%4v-%08u" }},
		{"lock-session", "pop3_lock_session = yes\n", func(c *Config) { c.LockSession = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			real := newRealPOP3(t, tc.conf)
			real.put(t, data)
			ourInbox := filepath.Join(t.TempDir(), "inbox")
			if err := os.WriteFile(ourInbox, data, 0o600); err != nil {
				t.Fatal(err)
			}
			read, del := script(4)
			cmds := append(read, del...)
			realOut := real.session(t, cmds)
			ourOut := oursSession(t, ourInbox, cmds, tc.mod)
			if diff := cmp.Diff(string(realOut), string(ourOut)); diff != "" {
				t.Errorf("replies differ (-dovecot +ours):\n%s", diff)
			}
			realState, ourState := mboxState(t, real.inbox()), mboxState(t, ourInbox)
			keepKeywordsAboveBase(t, data, realState, ourState)
			if diff := cmp.Diff(realState, ourState); diff != "" {
				t.Errorf("mailboxes after QUIT differ (-dovecot +ours):\n%s", diff)
			}
			// A second session sees the same (messages flagged as
			// deleted stay hidden).
			realOut = real.session(t, viewOf(4))
			ourOut = oursSession(t, ourInbox, viewOf(4), tc.mod)
			if diff := cmp.Diff(string(realOut), string(ourOut)); diff != "" {
				t.Errorf("second session differs (-dovecot +ours):\n%s", diff)
			}
		})
	}
}
