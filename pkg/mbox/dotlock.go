// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// createDotlock creates lockPath the way liblockfile does: write
// "<pid>:<host>" (Dovecot's content) into a unique temporary file in the same
// directory, link(2) it to the lock name and trust the link count, which also
// works over NFS where O_EXCL does not. A lock whose owner is a dead process
// on this host is removed at once; any other lock is overridden once it has
// not changed for DotlockChangeTimeout. When the directory refuses the
// user and opts.Privileged is set, the lock is made (and stale ones
// removed) through it; the function returned is then the one to remove
// the lock with.
func createDotlock(ctx context.Context, lockPath string, deadline time.Time, opts LockOptions) (string, func(func() error) error, error) {
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	content := []byte(strconv.Itoa(os.Getpid()) + ":" + host)
	dir := filepath.Dir(lockPath)
	wait := 5 * time.Millisecond
	var lastNotice time.Time
	var priv func(func() error) error
	for {
		var ok bool
		err := asPrivileged(priv, func() (err error) {
			ok, err = tryDotlock(dir, lockPath, content)
			return err
		})
		if err != nil && priv == nil && opts.Privileged != nil && errors.Is(err, fs.ErrPermission) {
			// Dovecot's order: as the user first, then with the
			// privileged group.
			priv = opts.Privileged
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if ok {
			return lockPath, priv, nil
		}
		if stale, why := dotlockStale(lockPath, host, opts.DotlockChangeTimeout); stale {
			if err := asPrivileged(priv, func() error { return os.Remove(lockPath) }); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", nil, fmt.Errorf("remove stale dotlock %s (%s): %w", lockPath, why, err)
			}
			continue
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("dotlock %s: %w", lockPath, ErrLockTimeout)
		}
		if opts.Notify != nil && time.Since(lastNotice) >= 30*time.Second {
			lastNotice = time.Now()
			if fi, err := os.Stat(lockPath); err == nil && time.Since(fi.ModTime()) >= 30*time.Second {
				// Dovecot's notice for a lock that stopped changing.
				left := opts.DotlockChangeTimeout - time.Since(fi.ModTime())
				opts.Notify(fmt.Sprintf("Stale mailbox lock file detected, will override in %d seconds", int(left.Seconds())))
			} else {
				opts.Notify(fmt.Sprintf("Mailbox is locked, will abort in %d seconds", int(time.Until(deadline).Seconds())))
			}
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return "", nil, err
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
}

func tryDotlock(dir, lockPath string, content []byte) (bool, error) {
	tmp, err := os.CreateTemp(dir, ".lk"+strconv.Itoa(os.Getpid()))
	if err != nil {
		return false, fmt.Errorf("create dotlock: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write dotlock: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write dotlock: %w", err)
	}
	if err := os.Chmod(tmpName, 0o600); err != nil {
		return false, fmt.Errorf("chmod dotlock: %w", err)
	}
	linkErr := os.Link(tmpName, lockPath)
	var st unix.Stat_t
	if err := unix.Stat(tmpName, &st); err != nil {
		return false, fmt.Errorf("stat dotlock: %w", err)
	}
	if st.Nlink == 2 {
		return true, nil
	}
	if linkErr != nil && !errors.Is(linkErr, os.ErrExist) {
		return false, fmt.Errorf("link dotlock: %w", linkErr)
	}
	return false, nil
}

// dotlockStale decides whether an existing dotlock may be overridden.
func dotlockStale(lockPath, host string, changeTimeout time.Duration) (bool, string) {
	fi, err := os.Stat(lockPath)
	if err != nil {
		return false, ""
	}
	if data, err := os.ReadFile(lockPath); err == nil {
		data = bytes.TrimSpace(data)
		pidStr, h, hasHost := bytes.Cut(data, []byte(":"))
		if pid, err := strconv.Atoi(string(pidStr)); err == nil && pid > 0 && (!hasHost || string(h) == host) {
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				return true, "owner process " + strconv.Itoa(pid) + " is gone"
			}
		}
	}
	if time.Since(fi.ModTime()) >= changeTimeout {
		return true, "unchanged for " + changeTimeout.String()
	}
	return false, ""
}
