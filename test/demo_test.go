// SPDX-License-Identifier: MIT

package test

// This file runs `make demo`'s script (scripts/demo.sh), the README's
// first set-up command: its check mode must deliver a -> b over SMTP and
// with sendmail -t -i and read both back over IMAP and POP3; a second run
// in the same state directory must work too; and the interactive mode must
// come up, answer on its ports and stop both daemons on Ctrl-C.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/testutil"
)

// demoTimeout bounds one run of the demo script.
// demoTimeout bounds one demo run, start to stop. sendmaild may take up
// to 30 s to drain on Ctrl-C, and under make test's load the start alone
// has taken most of a minute, so it is two minutes.
const demoTimeout = 120 * time.Second

// demoEnv is what a run of the demo needs: the script, the built commands,
// a state directory, three free loopback ports and a private resolv.conf
// and hosts file for the mount namespace it runs in.
type demoEnv struct {
	root, bin, state, ns string
	ports                [3]int // SMTP, IMAP, POP3
}

func newDemoEnv(t *testing.T) *demoEnv {
	t.Helper()
	testutil.Oracle(t, "python3", "python3")
	testutil.Oracle(t, "openssl", "openssl")
	testutil.Oracle(t, "unshare", "util-linux")
	// sendmaild and the resolver it uses may look names up; the test runs
	// the demo in a mount namespace whose resolv.conf names only loopback.
	testutil.RequireRoot(t, "the demo runs in a private mount namespace (unshare -m) so that no DNS server is queried")
	root := testutil.RepoRoot(t)
	// Under the checkout, not under /tmp: sendmail's safe-file checks refuse
	// maps in a world-writable directory, as the real sendmail does.
	top, err := os.MkdirTemp(root, ".demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	// dovecotd's mail processes run as the demo users: they must reach
	// their homes below here.
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &demoEnv{root: root, bin: binDir(t), state: filepath.Join(top, "state"), ns: filepath.Join(top, "ns")}
	if err := os.Mkdir(e.ns, 0o755); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	hosts := "127.0.0.1 localhost\n::1 localhost\n"
	if host != "" && host != "localhost" {
		hosts += "127.0.0.1 " + host + "\n"
	}
	for name, text := range map[string]string{"resolv.conf": "nameserver 127.0.0.1\n", "hosts": hosts} {
		if err := os.WriteFile(filepath.Join(e.ns, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range e.ports {
		e.ports[i] = freePort(t)
	}
	return e
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// command returns the demo script with args, run in its own process group
// inside a private mount namespace; ctx's end kills the whole group.
func (e *demoEnv) command(ctx context.Context, args ...string) *exec.Cmd {
	inner := fmt.Sprintf("mount --bind %s /etc/resolv.conf && mount --bind %s /etc/hosts && exec sh %s",
		filepath.Join(e.ns, "resolv.conf"), filepath.Join(e.ns, "hosts"), filepath.Join(e.root, "scripts", "demo.sh"))
	for _, a := range args {
		inner += " " + a
	}
	cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", inner)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(),
		"DEMO_BIN="+e.bin,
		"DEMO_STATE="+e.state,
		"DEMO_SMTP_PORT="+strconv.Itoa(e.ports[0]),
		"DEMO_IMAP_PORT="+strconv.Itoa(e.ports[1]),
		"DEMO_POP3_PORT="+strconv.Itoa(e.ports[2]),
		"DEMO_CHECK=",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// portsClosed fails the test when a demo port still answers.
func (e *demoEnv) portsClosed(t *testing.T) {
	t.Helper()
	for _, p := range e.ports {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second)
		if err == nil {
			c.Close()
			t.Errorf("127.0.0.1:%d still answers after the demo stopped", p)
		}
	}
}

func TestDemo(t *testing.T) {
	e := newDemoEnv(t)
	// The second check runs in the state the first one left: the script
	// resets it, so make demo works twice in a row.
	for _, name := range []string{"check", "check again"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
			defer cancel()
			out, err := e.command(ctx, "--check").CombinedOutput()
			if err != nil {
				t.Fatalf("demo.sh --check: %v\n%s", err, out)
			}
			want := fmt.Sprintf("demo check: ok: a -> b over SMTP :%d and sendmail -t -i; b read both over IMAP :%d and POP3 :%d (2 messages)",
				e.ports[0], e.ports[1], e.ports[2])
			if !strings.Contains(string(out), want) {
				t.Errorf("demo.sh --check output lacks %q:\n%s", want, out)
			}
			e.portsClosed(t)
			// The state directory is the documented one: the compiled cf,
			// the access map and b's mailbox with the two messages.
			for _, f := range []string{"etc/mail/sendmail.cf", "etc/mail/access.db", "etc/mail/aliases.db", "mail/b", "passwd", "shadow", ".mailsuite-demo"} {
				if _, err := os.Stat(filepath.Join(e.state, f)); err != nil {
					t.Errorf("state: %v", err)
				}
			}
		})
	}
	t.Run("interactive stops on Ctrl-C", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
		defer cancel()
		cmd := e.command(ctx)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var seen strings.Builder
		sc := bufio.NewScanner(stdout)
		up := false
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Ctrl-C stops both daemons") {
				up = true
				break
			}
		}
		if !up {
			cmd.Wait()
			t.Fatalf("the demo did not come up:\n%s\n%s", seen.String(), stderr.String())
		}
		for _, want := range []string{
			fmt.Sprintf("swaks --server 127.0.0.1 --port %d --from a@hamap.local --to b@hamap.local", e.ports[0]),
			fmt.Sprintf("curl -s --url 'imap://127.0.0.1:%d/INBOX;UID=1' --user b:b-secret", e.ports[1]),
			fmt.Sprintf("curl -s --url 'pop3://127.0.0.1:%d/1' --user b:b-secret", e.ports[2]),
			"-f a@hamap.local -t -i",
		} {
			if !strings.Contains(seen.String(), want) {
				t.Errorf("the printed instructions lack %q:\n%s", want, seen.String())
			}
		}
		for _, p := range e.ports {
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), 5*time.Second)
			if err != nil {
				t.Errorf("port %d: %v", p, err)
				continue
			}
			c.Close()
		}
		// Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
		drained := make(chan struct{})
		var after strings.Builder // what the demo printed while stopping
		go func() {
			defer close(drained)
			for sc.Scan() {
				after.WriteString(sc.Text() + "\n")
			}
		}()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-drained:
		case <-ctx.Done():
		}
		if err := cmd.Wait(); err != nil {
			<-drained
			t.Fatalf("after Ctrl-C the demo exited with %v; stdout after Ctrl-C:\n%s\nstderr:\n%s", err, after.String(), stderr.String())
		}
		e.portsClosed(t)
	})
}
