// SPDX-License-Identifier: MIT

package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sendmail 8.17 on Linux locks queue files with flock(2) (HASFLOCK): an
// exclusive lock on the qf while it delivers or rewrites a message, a
// shared non-blocking probe when mailq marks locked entries with "*".
// We take the same locks on the same files, so the real sendmail and
// mailsuite never work on one message at once.

// Locked is a queued message held for delivery: its qf is open and
// exclusively locked until Unlock or Done.
type Locked struct {
	q   *Queue
	id  string
	f   *os.File
	env *Envelope
}

// Lock opens qf<id>, locks it without waiting and reads it. It returns
// ErrLocked when another process holds the message (or renamed a new
// version into place between our open and our lock, which sendmail's
// readqf treats the same way), fs.ErrNotExist when the message is gone,
// and a parse error for an unreadable file (which Recover moves aside).
func (q *Queue) Lock(id string) (*Locked, error) {
	if !validID(id) {
		return nil, fmt.Errorf("lock %q: bad queue id", id)
	}
	name := q.path(prefixQF, id)
	f, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if changed, err := replaced(f, name); err != nil || changed {
		f.Close()
		if err != nil && errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("lock %s: %w", name, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
	}
	env, err := ReadEnvelope(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return &Locked{q: q, id: id, f: f, env: env}, nil
}

// replaced reports whether the directory entry name no longer is the
// open file f: another process renamed a new qf over it after we opened
// it, so our copy is stale.
func replaced(f *os.File, name string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, err
	}
	if err := unix.Lstat(name, &b); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, fs.ErrNotExist
		}
		return false, err
	}
	return a.Dev != b.Dev || a.Ino != b.Ino || a.Nlink == 0, nil
}

// ID returns the message's queue id.
func (l *Locked) ID() string { return l.id }

// Envelope returns the control file as last read or written. Change a
// copy and pass it to Update.
func (l *Locked) Envelope() *Envelope { return l.env }

// DataPath returns the path of the message's df file.
func (l *Locked) DataPath() string {
	if l.env.DataDir != "" && l.env.DataDir != "." {
		return l.q.path(l.env.DataDir+"/"+prefixDF, l.id)
	}
	return l.q.path(prefixDF, l.id)
}

// Update rewrites the control file atomically (tf, sync, rename over the
// qf, sync the directory) and keeps the message locked: the new file is
// locked before it takes the qf's name. Record an attempt with Update
// before making it (Attempts+1, LastAttempt, Priority) and its outcome
// after (the delivered recipients removed, Message set), so a crash
// never causes a burst of retries or a lost recipient.
func (l *Locked) Update(env *Envelope) error {
	if l.f == nil {
		return errors.New("update of unlocked message")
	}
	f, renamed, err := l.q.writeControl(l.id, env.Bytes(), nil)
	if err != nil {
		if renamed {
			// The new qf is in place but maybe not durable; our old
			// descriptor no longer names it, so stop holding it.
			l.f.Close()
			l.f = nil
		}
		return err
	}
	l.f.Close()
	l.f = f
	l.env = env
	return nil
}

// Unlock releases the message, leaving it queued.
func (l *Locked) Unlock() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Done removes a message whose recipients are all done: the qf first, so
// that a crash in between leaves a harmless data file and never a
// control file without its body, then the df, then the directory is
// synced.
func (l *Locked) Done() error {
	if l.f == nil {
		return errors.New("done with unlocked message")
	}
	qf := l.q.path(prefixQF, l.id)
	err := os.Remove(qf)
	l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("remove %s: %w", qf, err)
	}
	if err := os.Remove(l.DataPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", l.DataPath(), err)
	}
	os.Remove(l.q.path(prefixXF, l.id))
	return syncDirBatched(l.q.dir)
}
