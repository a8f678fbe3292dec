// SPDX-License-Identifier: MIT

package privsep

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropEnv carries a worker's identity when it must keep
// mail_privileged_group as its saved gid: "<uid>:<gid>:<privileged gid>".
// Such a worker starts as root (the only way to set a saved gid that
// differs from the real one) and drops to that identity before it reads
// anything; see dropPrivileges.
const dropEnv = "MAILSUITE_PRIVSEP_DROP"

// PrivGroup runs short file operations with mail_privileged_group as
// the effective gid, as Dovecot does for the dotlock and the creation of
// INBOX in a spool like Debian's /var/mail (2775 root:mail). The worker
// keeps that group only as its saved gid, never as a supplementary
// group, so that nothing else it does (opening a folder that is a
// symlink into the spool, say) has the group's access.
type PrivGroup struct {
	gid, priv uint32
}

// Run runs fn on an OS thread of its own whose effective gid is the
// privileged group, and returns fn's error. Linux keeps credentials per
// thread (glibc and Go's syscall.Setresgid change every thread by
// signalling them all), so the raw system call changes this thread only
// and every other goroutine keeps the user's gid. The thread goes back
// to the user's gid before other goroutines may run on it; if that
// fails, the goroutine ends while still locked to the thread, which
// makes the runtime end the thread too. Threads the runtime creates
// while fn runs come from its template thread, not from this one, so
// they never inherit the group.
func (p *PrivGroup) Run(fn func() error) error {
	type result struct {
		err   error
		panic any
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := setresgid(p.gid, p.priv, p.priv); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("use mail_privileged_group %d: %w", p.priv, err)}
			return
		}
		var r result
		func() {
			defer func() { r.panic = recover() }()
			r.err = fn()
		}()
		if err := setresgid(p.gid, p.gid, p.priv); err != nil {
			// Stay locked: the thread dies with this goroutine.
			if r.err == nil {
				r.err = fmt.Errorf("drop mail_privileged_group %d: %w", p.priv, err)
			}
			ch <- r
			return
		}
		// The kernel forgets a thread's parent-death signal when its
		// effective gid changes; set it again (see Pool.start).
		unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
		runtime.UnlockOSThread()
		ch <- r
	}()
	r := <-ch
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// setresgid changes the calling thread's real, effective and saved gid.
func setresgid(r, e, s uint32) error {
	if _, _, errno := unix.RawSyscall(sysSetresgid, uintptr(r), uintptr(e), uintptr(s)); errno != 0 {
		return errno
	}
	return nil
}

// dropPrivileges is the first thing a worker does. A worker started as
// its user (no privileged group) has nothing to do; one started as root
// with dropEnv takes the user's gid as real and effective gid, the
// privileged group as saved gid (Dovecot's restrict_access), then the
// user's uid, and checks that every thread of the process has done so.
// Its supplementary groups were set when it was started. It returns the
// privileged group's runner, or nil.
func dropPrivileges() (*PrivGroup, error) {
	v, ok := os.LookupEnv(dropEnv)
	os.Unsetenv(dropEnv)
	if !ok {
		if os.Geteuid() == 0 || os.Getuid() == 0 {
			return nil, errors.New("a mail worker does not run as root")
		}
		return nil, nil
	}
	uid, gid, priv, err := parseIdentity(v)
	if err != nil {
		return nil, err
	}
	// Every thread: Go's syscall.Setresgid and Setresuid change them all.
	if err := syscall.Setresgid(int(gid), int(gid), int(priv)); err != nil {
		return nil, fmt.Errorf("setresgid(%d, %d, %d): %w", gid, gid, priv, err)
	}
	if err := syscall.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return nil, fmt.Errorf("setresuid(%d): %w", uid, err)
	}
	want := map[string]string{
		"Uid": fmt.Sprintf("%d %d %d %d", uid, uid, uid, uid),
		"Gid": fmt.Sprintf("%d %d %d %d", gid, gid, priv, gid),
	}
	if err := checkThreads(want); err != nil {
		return nil, err
	}
	if err := syscall.Setuid(0); err == nil {
		return nil, errors.New("could get root back after dropping privileges")
	}
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	return &PrivGroup{gid: gid, priv: priv}, nil
}

// parseIdentity reads dropEnv's value: three decimal ids, none of them
// 0 (a worker is never root, and the root group is never the privileged
// one).
func parseIdentity(v string) (uid, gid, priv uint32, err error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("%s: bad value %q", dropEnv, v)
	}
	var ids [3]uint32
	for i, s := range parts {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 || n == 1<<32-1 {
			return 0, 0, 0, fmt.Errorf("%s: bad value %q", dropEnv, v)
		}
		ids[i] = uint32(n)
	}
	return ids[0], ids[1], ids[2], nil
}

// checkThreads reads every thread's ids from /proc and compares them
// with want (status field name to its value, fields separated by one
// space).
func checkThreads(want map[string]string) error {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("list threads: %v", err)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended
			}
			return err
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			if w, ok := want[k]; ok && strings.Join(strings.Fields(v), " ") != w {
				return fmt.Errorf("thread %s: %s %q after dropping privileges, want %q", filepath.Base(filepath.Dir(t)), k, strings.TrimSpace(v), w)
			}
		}
	}
	return nil
}
