// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// sessionLock is pop3_lock_session's dotlock: Dovecot creates
// dovecot-pop3-session.lock in the mail root (or INDEX=) directory, waits
// up to 10 s for another session's lock, overrides one left untouched for
// 5 minutes, and touches its own so it never looks stale.
type sessionLock struct {
	path string
	stop chan struct{}
	done chan struct{}
}

const (
	sessionLockName  = "dovecot-pop3-session.lock"
	sessionLockWait  = 10 * time.Second
	sessionLockStale = 5 * time.Minute
)

var errSessionLocked = errors.New("mailbox is locked by another POP3 session")

func acquireSessionLock(ctx context.Context, dir, hostname string) (*sessionLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pop3 session lock: %w", err)
	}
	path := filepath.Join(dir, sessionLockName)
	deadline := time.Now().Add(sessionLockWait)
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%d:%s", os.Getpid(), hostname)
			f.Close()
			l := &sessionLock{path: path, stop: make(chan struct{}), done: make(chan struct{})}
			go l.refresh()
			return l, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("pop3 session lock: %w", err)
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > sessionLockStale {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, errSessionLocked
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *sessionLock) refresh() {
	defer close(l.done)
	t := time.NewTicker(sessionLockStale / 2)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			os.Chtimes(l.path, now, now)
		}
	}
}

func (l *sessionLock) release() {
	close(l.stop)
	<-l.done
	os.Remove(l.path)
}
