// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dovecot's defaults (doveconf -a): mbox_lock_timeout = 5 mins,
// mbox_dotlock_change_timeout = 2 mins.
const (
	DefaultLockTimeout          = 5 * time.Minute
	DefaultDotlockChangeTimeout = 2 * time.Minute
)

// ErrLockTimeout is returned when a lock could not be taken in time; Dovecot
// reports "Timeout while waiting for lock".
var ErrLockTimeout = errors.New("timeout while waiting for lock")

// LockOptions tunes Lock. The zero value gives Dovecot's defaults with
// mbox_read_locks = fcntl and mbox_write_locks = fcntl dotlock.
type LockOptions struct {
	// Timeout bounds the whole wait (mbox_lock_timeout).
	Timeout time.Duration
	// DotlockChangeTimeout is how long a dotlock may stay unmodified
	// before it is considered stale and overridden
	// (mbox_dotlock_change_timeout).
	DotlockChangeTimeout time.Duration
	// NoDotlock leaves the dotlock out of write locks.
	NoDotlock bool
	// Hostname is written into the dotlock as "<pid>:<hostname>"; empty
	// means os.Hostname.
	Hostname string
	// Notify, when set, receives progress notices while waiting, in
	// Dovecot's words ("Mailbox is locked, will abort in N seconds").
	Notify func(msg string)
	// Privileged, when set, runs fn with mail_privileged_group as
	// effective gid (dovecotd's mail worker keeps that group as its
	// saved gid only). As Dovecot does, the dotlock is first tried
	// without it and, when the directory refuses (EACCES, as Debian's
	// 2775 root:mail /var/mail does), created and later removed through
	// it. Folders sets it only for an INBOX outside the mail root, and
	// uses it to create that INBOX. Nil runs nothing privileged.
	Privileged func(fn func() error) error
}

// A Lock is a held mbox lock: an fcntl lock on the open file and, for
// writers, the <mbox>.lock dotlock.
type Lock struct {
	f       *os.File
	dotlock string
	write   bool
	// priv removes the dotlock when it was created privileged.
	priv func(fn func() error) error
}

// LockFile takes a read (F_RDLCK) or write (F_WRLCK, then dotlock) lock on
// f, whose path is path, in the order Debian's Dovecot, procmail and
// mail.local use. It uses open-file-description locks, which conflict with
// the classic fcntl locks those programs take and are not dropped when
// another descriptor of the same file is closed.
func LockFile(ctx context.Context, f *os.File, path string, write bool, opts LockOptions) (*Lock, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultLockTimeout
	}
	if opts.DotlockChangeTimeout <= 0 {
		opts.DotlockChangeTimeout = DefaultDotlockChangeTimeout
	}
	start := time.Now()
	deadline := start.Add(opts.Timeout)
	typ := int16(unix.F_RDLCK)
	if write {
		typ = unix.F_WRLCK
	}
	lastNotice := start
	notice := func() {
		if opts.Notify != nil && time.Since(lastNotice) >= 30*time.Second {
			lastNotice = time.Now()
			opts.Notify(fmt.Sprintf("Mailbox is locked, will abort in %d seconds", int(time.Until(deadline).Seconds())))
		}
	}
	fl := unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
	wait := 5 * time.Millisecond
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &fl)
		if err == nil {
			break
		}
		if err != unix.EAGAIN && err != unix.EACCES && err != unix.EINTR {
			return nil, fmt.Errorf("fcntl lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock %s: %w", path, ErrLockTimeout)
		}
		notice()
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
	l := &Lock{f: f, write: write}
	if write && !opts.NoDotlock {
		dl, priv, err := createDotlock(ctx, path+".lock", deadline, opts)
		if err != nil {
			l.unlockFcntl()
			return nil, err
		}
		l.dotlock, l.priv = dl, priv
	}
	return l, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (l *Lock) unlockFcntl() error {
	fl := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: 0, Len: 0}
	return unix.FcntlFlock(l.f.Fd(), unix.F_OFD_SETLK, &fl)
}

// Unlock releases the fcntl lock and removes the dotlock, in Dovecot's
// order.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.unlockFcntl()
	if l.dotlock != "" {
		if e := asPrivileged(l.priv, func() error { return os.Remove(l.dotlock) }); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
			err = fmt.Errorf("remove dotlock: %w", e)
		}
	}
	l.f = nil
	return err
}

// asPrivileged runs fn through priv, or directly when priv is nil.
func asPrivileged(priv func(fn func() error) error, fn func() error) error {
	if priv == nil {
		return fn()
	}
	return priv(fn)
}
