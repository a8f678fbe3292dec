// SPDX-License-Identifier: MIT

package test

// The harness of the end-to-end runbook suite (runbook_test.go and
// relay_test.go): a private mount+UTS namespace per process whose
// /etc/resolv.conf names only the test's DNS server and whose /etc/hosts
// holds the scenario's names, that DNS server on port 53 of a loopback
// address the suite owns, the built daemons started and stopped by PID,
// and the per-step summary the suite prints.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailsuite/internal/testutil"
	"mailsuite/internal/testutil/dnstest"
)

// The loopback addresses the suite owns (no other test uses 127.0.0.60-69).
// They stand for the runbook's network: mail.hamap.local is 10.0.0.13 there.
const (
	ipDNS       = "127.0.0.60" // the test's DNS server, port 53
	ipMX1       = "127.0.0.61" // mail.hamap.local: sendmaild + dovecotd
	ipMX2       = "127.0.0.62" // mail.other.local: the second server, reached by MX
	ipPC        = "127.0.0.63" // the trusted PC (Thunderbird's), no reverse name
	ipNoName    = "127.0.0.64" // an untrusted client without a reverse name
	ipElsewhere = "127.0.0.65" // an untrusted client named pc65.elsewhere.example
	ipHamapPC   = "127.0.0.66" // a client named pc66.hamap.local (Connect:hamap.local RELAY)
	ipLoopback  = "127.0.0.67" // stands for 127.0.0.1 in Rocky's DAEMON_OPTIONS before the runbook's edit
)

// clientHost is the host name every client runs under (its own UTS
// namespace); the daemons run as mail.hamap.local / mail.other.local.
const clientHost = "pc.hamap.local"

// sandbox runs programs in a private mount+UTS namespace: /etc/resolv.conf
// names only the suite's DNS server and /etc/hosts holds the scenario's
// names, so nothing (sendmaild's client lookups, fetchmail and swaks
// qualifying their own names) can reach a real DNS server.
type sandbox struct {
	unshare       string
	resolv, hosts string
	dns           *dnstest.Server
	dnsEnv        string // MAILSUITE_RESOLV_CONF=... for sendmaild's courier
}

func newSandbox(t *testing.T, dir string) *sandbox {
	t.Helper()
	testutil.RequireRoot(t, "the sandbox needs private mount namespaces and port 53")
	sb := &sandbox{unshare: testutil.Oracle(t, "unshare", "util-linux")}
	testutil.Oracle(t, "hostname", "hostname")
	dns, err := dnstest.Start(ipDNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	sb.dns = dns
	// /etc/resolv.conf has no port: a forwarder on port 53 passes each
	// query on to the dnstest server.
	if err := forwardDNS(t, ipDNS+":53", dns.Addr()); err != nil {
		t.Fatalf("the suite's DNS server needs %s:53: %v", ipDNS, err)
	}
	sb.resolv = filepath.Join(dir, "resolv.conf")
	sb.hosts = filepath.Join(dir, "hosts")
	// The clients' own name maps to 127.0.0.1, so that the PCs' addresses
	// keep the reverse names (or none) the DNS server gives them.
	hosts := "127.0.0.1\tlocalhost " + clientHost + "\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		ipMX1 + "\tmail.hamap.local mail\n" +
		ipMX2 + "\tmail.other.local\n"
	for p, text := range map[string]string{sb.resolv: "nameserver " + ipDNS + "\n", sb.hosts: hosts} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dnstest"), 0o755); err != nil {
		t.Fatal(err)
	}
	sb.dnsEnv = dns.Env(t, filepath.Join(dir, "dnstest"))
	return sb
}

// command returns name with args to run in a fresh namespace whose host
// name is host. The shell execs the program, so the process's PID is the
// program's.
func (sb *sandbox) command(ctx context.Context, host string, env []string, name string, args ...string) *exec.Cmd {
	script := `mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && hostname "$3" && shift 3 && exec "$@"`
	argv := append([]string{"-m", "-u", "--propagation", "private", "/bin/sh", "-c", script, "sh", sb.resolv, sb.hosts, host, name}, args...)
	cmd := exec.CommandContext(ctx, sb.unshare, argv...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a client program in the sandbox (with a 60 s limit) and returns
// its combined output and exit status.
func (sb *sandbox) run(t *testing.T, env []string, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	return sb.runAs(t, clientHost, env, stdin, name, args...)
}

// runAs is run under the host name host.
func (sb *sandbox) runAs(t *testing.T, host string, env []string, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := sb.command(ctx, host, env, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: timed out\n%s", name, out)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// forwardDNS relays UDP and TCP DNS queries from listen to server until
// the test ends.
func forwardDNS(t *testing.T, listen, server string) error {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		pc.Close()
		return err
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); ln.Close(); wg.Wait() })
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("udp", server)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(q); err != nil {
					return
				}
				resp := make([]byte, 65535)
				m, err := c.Read(resp)
				if err != nil {
					return
				}
				pc.WriteTo(resp[:m], from)
			}()
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", server)
				if err != nil {
					return
				}
				defer s.Close()
				deadline := time.Now().Add(10 * time.Second)
				c.SetDeadline(deadline)
				s.SetDeadline(deadline)
				done := make(chan struct{})
				go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, s)
				<-done
			}()
		}
	}()
	return nil
}

// daemon is a built daemon running in the sandbox.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	err    error
}

// lockedBuffer collects a daemon's stdout and stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon starts name with args in the sandbox under host name host
// and waits until every address in ready accepts connections. It is
// stopped (SIGTERM, then SIGKILL after 10 s) when owner (the test that
// outlives the steps using it) ends, unless stopped earlier.
func (sb *sandbox) startDaemon(t, owner *testing.T, host string, env []string, ready []string, name string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: filepath.Base(name), out: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd = sb.command(context.Background(), host, env, name, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	owner.Cleanup(func() { d.stop(owner) })
	for _, addr := range ready {
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-d.exited:
				t.Fatalf("%s exited before listening on %s: %v\n%s", d.name, addr, d.err, d.out)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: nothing listens on %s after 15 s: %v\n%s", d.name, addr, err, d.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return d
}

// stop sends SIGTERM to the daemon's PID and waits for it; a daemon that
// does not stop within 10 s, or exits non-zero, fails the test.
func (d *daemon) stop(t *testing.T) {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if d.err != nil {
			t.Errorf("%s (pid %d) exited with %v after SIGTERM\n%s", d.name, d.cmd.Process.Pid, d.err, d.out)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("%s (pid %d) did not stop within 10 s of SIGTERM", d.name, d.cmd.Process.Pid)
	}
}

// stepResult is one line of the suite's summary.
type stepResult struct{ name, status string }

// summary collects the outcome of each runbook step.
type summary struct {
	mu    sync.Mutex
	steps []stepResult
	names map[*testing.T]string // a running step's name, for its sub-steps
}

// step runs fn as the named subtest and records PASS, FAIL or SKIP; it
// reports whether the step passed. A step whose needs include a false
// (an earlier step failed) is skipped.
func (s *summary) step(t *testing.T, name string, needs []bool, fn func(t *testing.T)) bool {
	t.Helper()
	status := "not run" // filtered out by -run
	full := name
	s.mu.Lock()
	if parent, ok := s.names[t]; ok {
		full = parent + " / " + name
	}
	idx := len(s.steps) // the step's line comes before its sub-steps'
	s.steps = append(s.steps, stepResult{full, status})
	s.mu.Unlock()
	ok := t.Run(name, func(t *testing.T) {
		defer func() {
			switch {
			case t.Failed():
				status = "FAIL"
			case t.Skipped():
				status = "SKIP"
			default:
				status = "PASS"
			}
		}()
		s.mu.Lock()
		if s.names == nil {
			s.names = map[*testing.T]string{}
		}
		s.names[t] = full
		s.mu.Unlock()
		for _, n := range needs {
			if !n {
				t.Skip("an earlier step this one needs failed")
			}
		}
		fn(t)
	})
	s.mu.Lock()
	s.steps[idx].status = status
	s.mu.Unlock()
	return ok && status == "PASS"
}

// table is the summary as text, one step per line.
func (s *summary) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.steps) == 0 {
		return "runbook end-to-end summary: no step ran (see TestRunbook's skip or failure message)\n"
	}
	var b strings.Builder
	width := 4
	for _, r := range s.steps {
		width = max(width, len(r.name))
	}
	fmt.Fprintf(&b, "runbook end-to-end summary:\n  %-*s  %s\n", width, "step", "result")
	counts := map[string]int{}
	for _, r := range s.steps {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.name, r.status)
		counts[r.status]++
	}
	fmt.Fprintf(&b, "  %d passed, %d failed, %d skipped, %d not run\n", counts["PASS"], counts["FAIL"], counts["SKIP"], counts["not run"])
	return b.String()
}

// report prints the table to stdout (go test shows it with -v and for a
// failed package) and appends it to $MAILSUITE_E2E_SUMMARY when set, so
// that a Makefile can show it after a quiet run.
func (s *summary) report(t *testing.T) {
	text := s.table()
	fmt.Print(text)
	if p := os.Getenv("MAILSUITE_E2E_SUMMARY"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("summary: %v", err)
			return
		}
		defer f.Close()
		io.WriteString(f, text)
	}
}
