// SPDX-License-Identifier: MIT

package imapd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/testutil"
)

// genMbox writes n procmail-style messages (about 1.3 KiB each, like the
// issue's benchmark mailboxes).
func genMbox(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	body := strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\n", 16)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		d := t0.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(w, "From sender%d@example.org  %s\n", i%50, d.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(w, "Return-Path: <sender%d@example.org>\nDate: %s\nFrom: Sender %d <sender%d@example.org>\nTo: b@hamap.local\nSubject: message number %d\nMessage-Id: <m%d@example.org>\n\n%s\n",
			i%50, d.Format(time.RFC1123Z), i%50, i%50, i, i, body)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// benchRoot makes a mail root holding a copy of src as INBOX.
func benchRoot(b *testing.B, src string) string {
	root := b.TempDir()
	os.Chmod(root, 0o755)
	os.MkdirAll(filepath.Join(root, "mail"), 0o700)
	if out, err := exec.Command("cp", src, filepath.Join(root, "inbox")).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	return root
}

// dovecotProc is Dovecot's imap binary in PREAUTH mode on root.
type dovecotProc struct {
	cmd *exec.Cmd
	cl  *client
}

func startDovecot(b *testing.B, root string) *dovecotProc {
	bin := testutil.Oracle(b, "/usr/lib/dovecot/imap", "dovecot-imapd")
	conf := filepath.Join(root, "dovecot.conf")
	write(b, conf, fmt.Sprintf("mail_location = mbox:%s/mail:INBOX=%s/inbox\nbase_dir = %s/run\nssl = no\n", root, root, root))
	cmd := exec.Command(bin, "-c", conf)
	cmd.Env = []string{"HOME=" + root, "USER=" + os.Getenv("USER"), "TZ=UTC"}
	if os.Getuid() == 0 {
		const nobody = 65534
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobody, nobody) })
		for d := filepath.Dir(root); d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
				os.Chmod(d, fi.Mode().Perm()|0o005)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		cmd.Env[1] = "USER=nobody"
	}
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	cl := &client{t: b, w: in, r: bufio.NewReaderSize(out, 1<<20)}
	cl.greeting, _ = cl.lineEOF()
	return &dovecotProc{cmd: cmd, cl: cl}
}

func (d *dovecotProc) stop() {
	d.cl.cmd("LOGOUT")
	d.cmd.Wait()
}

const benchFetch = "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)"

// BenchmarkIMAP times cold SELECT (no index), warm SELECT (index present)
// and FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE), for our server and for
// Dovecot's imap binary, on the same generated mailboxes. Times are taken
// at the client, from sending the command to its tagged reply.
func BenchmarkIMAP(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		src := filepath.Join(b.TempDir(), "src.mbox")
		genMbox(b, src, n)
		name := fmt.Sprintf("%dk", n/1000)
		b.Run("ours/"+name+"/coldSELECT", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				root := benchRoot(b, src)
				e := newEnv(b, "127.0.0.1", func(c *Config) { c.MailLocation = "mbox:" + root + "/mail:INBOX=" + root + "/inbox" })
				cl := dial(b, e.addr, "")
				cl.mustOK("LOGIN b " + passB)
				b.StartTimer()
				cl.mustOK("SELECT INBOX")
				b.StopTimer()
				cl.cmd("LOGOUT")
				cl.c.Close()
				e.srv.Close()
				b.StartTimer()
			}
		})
		root := benchRoot(b, src)
		e := newEnv(b, "127.0.0.1", func(c *Config) { c.MailLocation = "mbox:" + root + "/mail:INBOX=" + root + "/inbox" })
		warm := dial(b, e.addr, "")
		warm.mustOK("LOGIN b " + passB)
		warm.mustOK("SELECT INBOX")
		warm.cmd("LOGOUT")
		b.Run("ours/"+name+"/warmSELECT", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cl := dial(b, e.addr, "")
				cl.mustOK("LOGIN b " + passB)
				b.StartTimer()
				cl.mustOK("SELECT INBOX")
				b.StopTimer()
				cl.cmd("LOGOUT")
				cl.c.Close()
				b.StartTimer()
			}
		})
		// The same with the mailbox closed after each session (a login
		// after mailboxLinger, or in a new worker): open via the index.
		b.Run("ours/"+name+"/warmSELECT-reopen", func(b *testing.B) {
			old := mailboxLinger
			mailboxLinger = 0
			defer func() { mailboxLinger = old }()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cl := dial(b, e.addr, "")
				cl.mustOK("LOGIN b " + passB)
				b.StartTimer()
				cl.mustOK("SELECT INBOX")
				b.StopTimer()
				cl.cmd("LOGOUT")
				cl.c.Close()
				b.StartTimer()
			}
		})
		b.Run("ours/"+name+"/FETCH", func(b *testing.B) {
			cl := dial(b, e.addr, "")
			cl.mustOK("LOGIN b " + passB)
			cl.mustOK("EXAMINE INBOX")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if lines := cl.mustOK(benchFetch); len(lines) != n {
					b.Fatalf("%d FETCH lines", len(lines))
				}
			}
		})
		b.Run("dovecot/"+name+"/coldSELECT", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := startDovecot(b, benchRoot(b, src))
				b.StartTimer()
				d.cl.mustOK("SELECT INBOX")
				b.StopTimer()
				d.stop()
				b.StartTimer()
			}
		})
		droot := benchRoot(b, src)
		d := startDovecot(b, droot)
		d.cl.mustOK("SELECT INBOX")
		d.stop()
		b.Run("dovecot/"+name+"/warmSELECT", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := startDovecot(b, droot)
				b.StartTimer()
				d.cl.mustOK("SELECT INBOX")
				b.StopTimer()
				d.stop()
				b.StartTimer()
			}
		})
		b.Run("dovecot/"+name+"/FETCH", func(b *testing.B) {
			d := startDovecot(b, droot)
			defer d.stop()
			d.cl.mustOK("EXAMINE INBOX")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if lines := d.cl.mustOK(benchFetch); len(lines) != n {
					b.Fatalf("%d FETCH lines", len(lines))
				}
			}
		})
	}
}
