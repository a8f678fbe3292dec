// SPDX-License-Identifier: MIT

package privsep

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mailsuite/internal/testutil"
)

// workerEnv makes the test binary a pool worker (poolWorker) instead of
// running the tests.
const workerEnv = "PRIVSEP_TEST_WORKER"

// poolWorker is a minimal mail worker: it writes each session's
// description to the session's descriptor and closes it.
func poolWorker() int {
	w, _, err := NewWorker()
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	for {
		desc, f, err := w.Next()
		if err != nil {
			return 0
		}
		if string(desc) == "tty?" {
			desc = []byte(fmt.Sprintf("sid %d, %s", getsid(), ttyState()))
		}
		f.Write(desc)
		f.Close()
		w.Done()
	}
}

func getsid() int {
	sid, _ := unix.Getsid(0)
	return sid
}

// ttyState tells whether the process can open its controlling terminal.
func ttyState() string {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return "no tty"
	}
	unix.Close(fd)
	return "tty"
}

// ttyRootEnv makes the test binary ttyRoot: a root process in a
// terminal that hands a session to a worker.
const ttyRootEnv = "PRIVSEP_TEST_TTYROOT"

// ttyRoot runs a pool from a process with a controlling terminal and
// prints its session and terminal, then the worker's answer.
func ttyRoot() int {
	exe, _ := os.Executable()
	p := &Pool{Path: exe, Args: []string{exe}, Env: []string{workerEnv + "=1"}, Stderr: os.Stderr}
	defer p.Close()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	client, conn := os.NewFile(uintptr(fds[0]), "client"), os.NewFile(uintptr(fds[1]), "conn")
	_, err = p.Handoff(Cred{UID: testUID, GID: testGID, Groups: []uint32{testGID}, PrivGID: testPriv}, []byte("tty?"), conn, nil)
	conn.Close()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(client)
	fmt.Printf("root: sid %d, %s\nworker: %s %v\n", getsid(), ttyState(), b, err)
	return 0
}

// TestWorkerSessionAndTerminal: a worker stays in the root process's
// session (Linux's autogroup schedules each session as a group, and a
// worker in a session of its own got half the throughput on a loaded
// machine), but gives up the controlling terminal it would share with
// a root process run from a shell.
func TestWorkerSessionAndTerminal(t *testing.T) {
	testutil.RequireRoot(t, "workers run as another user")
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer m.Close()
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{ttyRootEnv + "=1"}
	cmd.Stdin = pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rootSid, workerSid int
	var rootTTY, workerTTY string
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("output:\n%s", out)
	}
	fmt.Sscanf(lines[0], "root: sid %d, %s", &rootSid, &rootTTY)
	rest, _ := strings.CutPrefix(lines[1], "worker: ")
	fmt.Sscanf(rest, "sid %d,", &workerSid)
	workerTTY = strings.TrimSpace(rest[strings.Index(rest, ",")+1:])
	if rootSid != cmd.Process.Pid || rootTTY != "tty" {
		t.Fatalf("the root process (pid %d) is not a session leader with a terminal:\n%s", cmd.Process.Pid, out)
	}
	if workerSid != rootSid {
		t.Errorf("worker in session %d, root process in %d", workerSid, rootSid)
	}
	if workerTTY != "no tty <nil>" {
		t.Errorf("worker's terminal: %q (want no tty)", workerTTY)
	}
}

// testPool is a pool of poolWorker processes; they start as root and
// drop to testUID (the path a worker with mail_privileged_group takes),
// so the test binary need not be executable by testUID.
func testPool(t *testing.T) (*Pool, Cred, func() string) {
	t.Helper()
	testutil.RequireRoot(t, "workers run as another user")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs []string
	p := &Pool{Path: exe, Args: []string{exe}, Env: []string{workerEnv + "=1"}, Stderr: os.Stderr,
		Errorf: func(format string, args ...any) {
			mu.Lock()
			errs = append(errs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}}
	t.Cleanup(p.Close)
	reported := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(errs, "\n")
	}
	return p, Cred{UID: testUID, GID: testGID, Groups: []uint32{testGID}, PrivGID: testPriv}, reported
}

// session hands one session to the pool and returns what the client end
// of its connection read until every copy of the connection was closed
// (by the test, the worker that served it and any worker that held it).
func session(t *testing.T, p *Pool, cred Cred, desc string) (int, string, error) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	client, conn := os.NewFile(uintptr(fds[0]), "client"), os.NewFile(uintptr(fds[1]), "conn")
	defer client.Close()
	var logged []int
	pid, herr := p.Handoff(cred, []byte(desc), conn, func(pid int) { logged = append(logged, pid) })
	conn.Close()
	if herr == nil && (len(logged) != 1 || logged[0] != pid) {
		t.Errorf("%s: before called with %v, Handoff returned worker %d", desc, logged, pid)
	}
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("%s: reading the client end: %v (read %q)", desc, err, got)
	}
	return pid, string(got), herr
}

// stop stops pid and waits until every thread of it is stopped (a
// thread running on another CPU goes on for a moment after kill).
func stop(t *testing.T, pid int) {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for i := 0; i < 2000; i++ {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		all := len(tasks) > 0
		for _, task := range tasks {
			b, _ := os.ReadFile(dir + "/" + task.Name() + "/stat")
			st := string(b)
			if i := strings.LastIndexByte(st, ')'); i < 0 || i+2 >= len(st) || (st[i+2] != 'T' && st[i+2] != 't') {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("worker %d did not stop", pid)
}

// hookOnce sets testHook to fn for the next hand-over only (a retry goes
// to a new worker untouched).
func hookOnce(t *testing.T, fn func(event string, pid int)) {
	var first int
	testHook = func(event string, pid int) {
		if first == 0 {
			first = pid
		}
		if pid == first {
			fn(event, pid)
		}
	}
	t.Cleanup(func() { testHook = nil })
}

// TestHandoffWorkerDies: a worker that dies after the session was sent
// to it and before it read it (stopped before the send, killed after)
// does not take the session along: Handoff gives it to a new worker, and
// the client is served. Without the acknowledgement the session was lost.
func TestHandoffWorkerDies(t *testing.T) {
	p, cred, errs := testPool(t)
	first, got, err := session(t, p, cred, "warm-up")
	if err != nil || got != "warm-up" {
		t.Fatalf("first session: %q, %v", got, err)
	}
	prev := first
	for i := 0; i < 5; i++ {
		hookOnce(t, func(event string, pid int) {
			switch event {
			case "send":
				stop(t, pid)
			case "sent":
				syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		desc := fmt.Sprintf("session %d", i)
		pid, got, err := session(t, p, cred, desc)
		testHook = nil
		if err != nil || got != desc {
			t.Fatalf("%s: client read %q, Handoff: %v", desc, got, err)
		}
		if pid == prev {
			t.Fatalf("%s: served by the killed worker %d", desc, pid)
		}
		prev = pid
	}
	if r := errs(); !strings.Contains(r, "trying a new mail worker") {
		t.Errorf("no retry reported: %q", r)
	}
}

// TestHandoffWorkerGone: a worker whose control socket already failed
// (killed and reaped before the send) makes the send fail, and the
// session goes to a new worker.
func TestHandoffWorkerGone(t *testing.T) {
	p, cred, _ := testPool(t)
	if _, got, err := session(t, p, cred, "warm-up"); err != nil || got != "warm-up" {
		t.Fatalf("first session: %q, %v", got, err)
	}
	hookOnce(t, func(event string, pid int) {
		if event == "send" {
			syscall.Kill(pid, syscall.SIGKILL)
			// Gone for good (its descriptors closed) before the send.
			// Wait until it is a zombie (watch cannot reap it while
			// Handoff holds the pool): its descriptors are closed.
			for i := 0; i < 2000; i++ {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				if err != nil || strings.Contains(string(b), ") Z ") {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	if _, got, err := session(t, p, cred, "after"); err != nil || got != "after" {
		t.Fatalf("session after the worker died: %q, %v", got, err)
	}
}

// TestHandoffAckTimeout: a worker that does not acknowledge in time (it
// is stopped) gets no session: the session goes to a new worker, and the
// stopped one, continued, drops it unserved (it never got its go) and
// exits since its control socket was closed. The client reads the
// description exactly once.
func TestHandoffAckTimeout(t *testing.T) {
	p, cred, errs := testPool(t)
	first, got, err := session(t, p, cred, "warm-up")
	if err != nil || got != "warm-up" {
		t.Fatalf("first session: %q, %v", got, err)
	}
	// The next worker (which must start) keeps the default.
	p.mu.Lock()
	p.workers[cred.key()].ackTimeout = 200 * time.Millisecond
	p.mu.Unlock()
	hookOnce(t, func(event string, pid int) {
		if event == "send" {
			stop(t, pid)
			// Continued once the hand-over gave up on it.
			time.AfterFunc(time.Second, func() { syscall.Kill(pid, syscall.SIGCONT) })
		}
	})
	pid, got, err := session(t, p, cred, "once")
	if err != nil || got != "once" {
		t.Fatalf("client read %q, Handoff: %v", got, err)
	}
	if pid == first {
		t.Errorf("served by the stopped worker %d", pid)
	}
	if r := errs(); !strings.Contains(r, "did not take the session within") {
		t.Errorf("no timeout reported: %q", r)
	}
	for _, w := range p.Workers() {
		if w == first {
			t.Errorf("the stopped worker %d is still in the pool", first)
		}
	}
}
