// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailsuite/internal/testutil"

	"golang.org/x/sys/unix"
)

// TestLockHelperProcess is not a test: run by lockHelper as a second
// process, it takes a classic fcntl lock (as procmail and mail.local do),
// says "locked" and holds it until its stdin closes. With mode "try" it
// only tries a write lock and prints "free" or "busy".
func TestLockHelperProcess(t *testing.T) {
	path := os.Getenv("MBOX_LOCK_HELPER")
	if path == "" {
		t.Skip("helper for the locking tests")
	}
	mode := os.Getenv("MBOX_LOCK_MODE")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	typ := int16(unix.F_WRLCK)
	if mode == "read" {
		typ = unix.F_RDLCK
	}
	fl := unix.Flock_t{Type: typ}
	if mode == "try" {
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &fl); err != nil {
			fmt.Println("busy")
		} else {
			fmt.Println("free")
		}
		os.Exit(0)
	}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLKW, &fl); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once
}

func lockHelper(t *testing.T, path, mode string) (*helper, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "MBOX_LOCK_HELPER="+path, "MBOX_LOCK_MODE="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	h := &helper{cmd: cmd, stdin: stdin}
	t.Cleanup(h.release)
	return h, strings.TrimSpace(line)
}

// release ends the helper (safe to call more than once, from any goroutine).
func (h *helper) release() {
	h.once.Do(func() {
		h.stdin.Close()
		h.cmd.Wait()
	})
}

func TestLockingWithSecondProcess(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "inbox")
	if err := os.WriteFile(path, generateMbox(3, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	short := LockOptions{Timeout: 300 * time.Millisecond}

	t.Run("their write lock blocks our read and write locks", func(t *testing.T) {
		h, got := lockHelper(t, path, "write")
		if got != "locked" {
			t.Fatalf("helper: %q", got)
		}
		for _, write := range []bool{false, true} {
			if _, err := LockFile(ctx, f, path, write, short); !errors.Is(err, ErrLockTimeout) {
				t.Errorf("write=%v: LockFile = %v, want timeout", write, err)
			}
		}
		if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dotlock left behind after a failed lock")
		}
		// Released while we wait: we get it.
		go func() { time.Sleep(200 * time.Millisecond); h.release() }()
		lk, err := LockFile(ctx, f, path, true, LockOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		lk.Unlock()
	})
	t.Run("their read lock allows our read lock only", func(t *testing.T) {
		_, got := lockHelper(t, path, "read")
		if got != "locked" {
			t.Fatalf("helper: %q", got)
		}
		lk, err := LockFile(ctx, f, path, false, short)
		if err != nil {
			t.Fatalf("read lock: %v", err)
		}
		lk.Unlock()
		if _, err := LockFile(ctx, f, path, true, short); !errors.Is(err, ErrLockTimeout) {
			t.Errorf("write lock = %v, want timeout", err)
		}
	})
	t.Run("our write lock is seen by classic fcntl and dotlock users", func(t *testing.T) {
		lk, err := LockFile(ctx, f, path, true, short)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := lockHelper(t, path, "try"); got != "busy" {
			t.Errorf("second process: %q, want busy", got)
		}
		data, err := os.ReadFile(path + ".lock")
		if err != nil {
			t.Fatalf("dotlock: %v", err)
		}
		host, _ := os.Hostname()
		if want := fmt.Sprintf("%d:%s", os.Getpid(), host); string(data) != want {
			t.Errorf("dotlock content %q, want %q (Dovecot's pid:host)", data, want)
		}
		if dl, err := exec.LookPath("dotlockfile"); err == nil {
			// liblockfile's own tool must see the lock as taken.
			if err := exec.Command(dl, "-l", "-r", "0", path+".lock").Run(); err == nil {
				t.Errorf("dotlockfile took the lock we hold")
			}
		}
		lk.Unlock()
		if _, got := lockHelper(t, path, "try"); got != "free" {
			t.Errorf("after unlock second process: %q, want free", got)
		}
		if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dotlock not removed")
		}
	})
}

func TestDotlockStaleness(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "inbox")
	os.WriteFile(path, nil, 0o600)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	host, _ := os.Hostname()
	// A process that surely exists, and one that surely does not.
	live := os.Getppid()
	dead := exec.Command("true")
	dead.Run()
	deadPid := dead.Process.Pid
	tests := []struct {
		name    string
		content string
		age     time.Duration
		want    bool // lock obtained
	}{
		{"live owner, fresh", fmt.Sprintf("%d:%s", live, host), 0, false},
		{"dead owner on this host", fmt.Sprintf("%d:%s", deadPid, host), 0, true},
		{"other host, fresh", "123:elsewhere", 0, false},
		{"other host, unchanged for 2 minutes", "123:elsewhere", 2*time.Minute + time.Second, true},
		{"liblockfile style, fresh", "0\n", 0, false},
		{"liblockfile style, old", "0\n", 3 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lock := path + ".lock"
			if err := os.WriteFile(lock, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.age > 0 {
				old := time.Now().Add(-tc.age)
				os.Chtimes(lock, old, old)
			}
			lk, err := LockFile(ctx, f, path, true, LockOptions{Timeout: 300 * time.Millisecond})
			if got := err == nil; got != tc.want {
				t.Fatalf("LockFile err = %v, want obtained=%v", err, tc.want)
			}
			if lk != nil {
				lk.Unlock()
			}
			os.Remove(lock)
		})
	}
}

// TestDotlockWithLiblockfile: a lock made by liblockfile's dotlockfile
// keeps us out until it is removed.
func TestDotlockWithLiblockfile(t *testing.T) {
	dl := testutil.Oracle(t, "dotlockfile", "liblockfile-bin")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inbox")
	os.WriteFile(path, nil, 0o600)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	defer f.Close()
	if out, err := exec.Command(dl, "-l", "-r", "0", path+".lock").CombinedOutput(); err != nil {
		t.Fatalf("dotlockfile: %v %s", err, out)
	}
	if _, err := LockFile(ctx, f, path, true, LockOptions{Timeout: 300 * time.Millisecond}); !errors.Is(err, ErrLockTimeout) {
		t.Errorf("LockFile = %v, want timeout while liblockfile holds the lock", err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		exec.Command(dl, "-u", path+".lock").Run()
	}()
	lk, err := LockFile(ctx, f, path, true, LockOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
}
