// SPDX-License-Identifier: MIT

package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RecoverStats counts what Recover found.
type RecoverStats struct {
	// Queued is the number of readable queued messages passed to the
	// callback.
	Queued int
	// Busy counts messages another process held locked (or was still
	// writing), left alone.
	Busy int
	// Lost counts unreadable control files moved aside as Qf<id>.
	Lost int
	// Leftovers counts temporary tf files of crashed writers moved
	// aside as Tf<id>.
	Leftovers int
	// Orphans counts df files with neither qf nor tf, older than
	// OrphanAge: bodies of messages never accepted (the crash came
	// before the control file was in place). They are left where they
	// are, invisible to queue runs and mailq, and logged.
	Orphans int
}

// tfGrace is how long an unlocked tf file is left alone: a live writer
// locks its tf right after creating it, so an unlocked one older than
// this belongs to a process that died.
const tfGrace = time.Minute

// readBatch is how many directory entries are read at a time: memory
// stays bounded whatever the size of the queue.
const readBatch = 512

// Recover walks the queue once, as a daemon does on start. Every
// readable control file not locked by another process is passed to fn
// (return an error from fn to stop). Unreadable control files, and
// control files whose data file is missing, are moved aside as Qf<id>
// and logged; tf files left by a crash are moved aside as Tf<id>; nothing
// is ever deleted. The directory is read in batches and nothing is kept
// per message, so memory does not grow with the queue.
func (q *Queue) Recover(ctx context.Context, fn func(id string, env *Envelope) error) (RecoverStats, error) {
	var st RecoverStats
	d, err := os.Open(q.dir)
	if err != nil {
		return st, fmt.Errorf("recover: %w", err)
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		names, err := d.Readdirnames(readBatch)
		for _, name := range names {
			if len(name) < 3 || !validID(name[2:]) {
				continue
			}
			id := name[2:]
			var ferr error
			switch name[:2] {
			case prefixQF:
				ferr = q.recoverQF(id, &st, fn)
			case prefixTF:
				q.recoverTF(id, &st)
			case prefixDF:
				q.checkOrphan(id, &st)
			}
			if ferr != nil {
				return st, ferr
			}
		}
		if err == io.EOF || (err == nil && len(names) == 0) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("recover: read %s: %w", q.dir, err)
		}
	}
}

func (q *Queue) recoverQF(id string, st *RecoverStats, fn func(string, *Envelope) error) error {
	l, err := q.Lock(id)
	switch {
	case err == nil:
	case errors.Is(err, ErrLocked):
		st.Busy++
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return nil // delivered meanwhile
	default:
		var serr *SyntaxError
		if !errors.Is(err, ErrIncomplete) && !errors.As(err, &serr) {
			return nil // an I/O error: leave it for the next run
		}
		// Unreadable. A sendmail writing a new qf holds its lock, so
		// an unlocked broken file is finished; still, give an empty or
		// cut file a moment in case its writer is between open and
		// lock.
		if fi, e := os.Lstat(q.path(prefixQF, id)); e == nil && q.opts.Now().Sub(fi.ModTime()) < tfGrace {
			st.Busy++
			return nil
		}
		if q.lose(id, shortReason(err)) {
			st.Lost++
		}
		return nil
	}
	env := l.Envelope()
	if env.DataDir == "" {
		if _, err := os.Lstat(l.DataPath()); errors.Is(err, fs.ErrNotExist) {
			l.Unlock()
			if q.lose(id, "data file missing") {
				st.Lost++
			}
			return nil
		}
	}
	l.Unlock()
	st.Queued++
	return fn(id, env)
}

// shortReason turns a parse error into the reason logged with the
// "Losing" line, in sendmail's words where it has them.
func shortReason(err error) string {
	var serr *SyntaxError
	if errors.As(err, &serr) {
		return serr.Msg
	}
	if errors.Is(err, ErrIncomplete) {
		return ErrIncomplete.Error()
	}
	return err.Error()
}

// Lose moves qf<id> aside as Qf<id>, as sendmail's loseqfile does, and
// logs why. The message stays on disk for the postmaster; queue runs and
// mailq no longer see it. It takes the qf's lock first and does nothing
// (returning false) if another process holds it.
func (q *Queue) Lose(id, why string) error {
	if !validID(id) {
		return fmt.Errorf("lose %q: bad queue id", id)
	}
	if !q.lose(id, why) {
		return fmt.Errorf("lose %s: %w", id, ErrLocked)
	}
	return nil
}

func (q *Queue) lose(id, why string) bool {
	name := q.path(prefixQF, id)
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false
	}
	if changed, err := replaced(f, name); err != nil || changed {
		return false
	}
	if err := os.Rename(name, q.path(prefixLost, id)); err != nil {
		q.log.Error("cannot rename queue file", "qid", id, "from", name, "err", err)
		return false
	}
	syncDir(q.dir)
	// sendmail logs this at LOG_ALERT as "<qid>: Losing ./qf<qid>: <why>".
	q.alert(id, "Losing ./"+prefixQF+id+": "+why)
	return true
}

func (q *Queue) recoverTF(id string, st *RecoverStats) {
	name := q.path(prefixTF, id)
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		st.Busy++ // being written right now
		return
	}
	fi, err := f.Stat()
	if err != nil || q.opts.Now().Sub(fi.ModTime()) < tfGrace {
		st.Busy++
		return
	}
	if err := os.Rename(name, q.path(prefixOldT, id)); err != nil {
		q.log.Error("cannot rename queue file", "qid", id, "from", name, "err", err)
		return
	}
	syncDir(q.dir)
	st.Leftovers++
	q.alert(id, "Saving leftover ./"+prefixTF+id+" as ./"+prefixOldT+id)
}

func (q *Queue) checkOrphan(id string, st *RecoverStats) {
	for _, p := range []string{prefixQF, prefixTF, prefixLost, prefixOldT} {
		if _, err := os.Lstat(q.path(p, id)); !errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	fi, err := os.Lstat(q.path(prefixDF, id))
	if err != nil || q.opts.Now().Sub(fi.ModTime()) < q.opts.OrphanAge {
		return
	}
	st.Orphans++
	q.alert(id, "data file ./"+prefixDF+id+" without control file left in place")
}

func (q *Queue) alert(id, msg string) {
	if q.opts.Alert != nil {
		q.opts.Alert(id, msg)
	}
	q.log.Warn(strings.TrimSpace(msg), "qid", id)
}
