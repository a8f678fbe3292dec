// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"mailsuite/pkg/mbox"
)

// DefaultSpoolDir is Debian's mail spool.
const DefaultSpoolDir = "/var/mail"

// Recipient is the local user a mailbox belongs to.
type Recipient struct {
	// Name is the login name; the mailbox is <spool>/<Name>.
	Name string
	// UID and GID are the user's ids: a new mailbox is given to UID,
	// and an existing one must belong to it.
	UID, GID int
}

// Spool is the built-in local delivery agent: it appends messages to
// <Dir>/<user> the way procmail -Y does on Debian. The zero value
// delivers to /var/mail with Dovecot's lock timeouts.
type Spool struct {
	// Dir is the spool directory; empty means DefaultSpoolDir.
	Dir string
	// MailGID is the group given to a new mailbox when running as root;
	// 0 means the "mail" group of the group database (8 on Debian).
	MailGID int
	// Lock tunes the fcntl + dotlock locking (pkg/mbox's LockFile).
	Lock mbox.LockOptions
	// Now gives the From_ line's time; nil means time.Now. Its location
	// is the zone of the date, as procmail uses the local time zone.
	Now func() time.Time

	// failAfter, when positive, makes the write fail after that many
	// bytes (tests of the rollback).
	failAfter int64
}

// ErrUnsafeMailbox reports a mailbox the agent refuses to write: a
// symbolic link, a file with other hard links, something other than a
// regular file, or a file owned by another user.
var ErrUnsafeMailbox = errors.New("unsafe mailbox")

// Path returns the mailbox path of user name.
func (s *Spool) Path(name string) string {
	dir := s.Dir
	if dir == "" {
		dir = DefaultSpoolDir
	}
	return filepath.Join(dir, name)
}

// Deliver appends the message read from msg (already carrying the
// headers Sendmail adds, see NewMessage) to rcpt's mailbox, with a From_
// line for sender — what the mailer's -f would carry, or, for a
// command-line submission without -f, the submitter's login name, as
// procmail then writes it — and returns the Status Sendmail would log.
// On any failure the mailbox is truncated back to its old size.
// Lock timeouts and unsafe mailboxes are ExTempFail ("Deferred: mailbox b
// locked", "Deferred: unsafe mailbox /var/mail/b"), an invalid user name
// ExNoUser, other errors ExIOErr (temporary too); Status.Detail holds the
// Go error.
func (s *Spool) Deliver(ctx context.Context, rcpt Recipient, sender string, msg io.Reader) Status {
	err := s.Append(ctx, rcpt, sender, msg)
	if err == nil {
		return StatusFor(ExOK, "")
	}
	var st Status
	switch {
	case errors.Is(err, mbox.ErrLockTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		st = StatusFor(ExTempFail, "mailbox "+rcpt.Name+" locked")
	case errors.Is(err, ErrUnsafeMailbox):
		// mail.local defers these too: an administrator can fix the
		// file, and the mail waits in the queue meanwhile.
		st = StatusFor(ExTempFail, "unsafe mailbox "+s.Path(rcpt.Name))
	case errors.Is(err, errBadUser):
		st = StatusFor(ExNoUser, "")
	default:
		st = StatusFor(ExIOErr, "")
	}
	st.Detail = err.Error()
	return st
}

var errBadUser = errors.New("invalid user name")

// Append is Deliver returning a Go error instead of a Status.
//
// Appends of this process to one mailbox are queued (see batch.go): the
// goroutine that finds the mailbox idle takes the lock once for every
// message waiting by then, writes them one after the other and syncs the
// file once before any of them is reported delivered. A message whose
// write fails is cut off again at its own start; a failed sync truncates
// the file back to its size before the batch and fails the whole batch.
func (s *Spool) Append(ctx context.Context, rcpt Recipient, sender string, msg io.Reader) (err error) {
	if rcpt.Name == "" || rcpt.Name == "." || rcpt.Name == ".." || strings.ContainsAny(rcpt.Name, "/\x00") {
		return fmt.Errorf("deliver to %q: %w", rcpt.Name, errBadUser)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req := &appendReq{ctx: ctx, rcpt: rcpt, sender: sender, t: now(), msg: msg,
		done: make(chan error, 1), lead: make(chan struct{})}
	path := s.Path(rcpt.Name)
	q := mailboxQueue(path)
	return s.wait(q, path, req, q.enqueue(req))
}

// appendBatch writes the messages of batch to the mailbox at path under
// one lock and one fsync, and returns each message's outcome.
func (s *Spool) appendBatch(path string, batch []*appendReq) []error {
	errs := make([]error, len(batch))
	all := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	first := batch[0]
	f, created, err := s.openMailbox(path, first.rcpt)
	if err != nil {
		return all(err)
	}
	defer f.Close()
	lk, err := mbox.LockFile(first.ctx, f, path, true, s.Lock)
	if err != nil {
		return all(err)
	}
	defer func() {
		if e := lk.Unlock(); e != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("unlock %s: %w", path, e)
				}
			}
		}
	}()
	// The name may have been replaced while we waited for the lock.
	if err := sameFile(f, path); err != nil {
		return all(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return all(fmt.Errorf("stat %s: %w", path, err))
	}
	old := st.Size
	off := old
	wrote := false
	for i, r := range batch {
		if r.rcpt.UID != first.rcpt.UID {
			errs[i] = fmt.Errorf("%s: owned by uid %d, not %d: %w", path, first.rcpt.UID, r.rcpt.UID, ErrUnsafeMailbox)
			continue
		}
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		end, err := s.write(f, off, r.sender, r.t, r.msg)
		wrote = true
		if err != nil {
			if terr := f.Truncate(off); terr != nil {
				err = fmt.Errorf("%w (truncate back to %d: %v)", err, off, terr)
			}
			errs[i] = fmt.Errorf("append to %s: %w", path, err)
			continue
		}
		off = end
	}
	if !wrote {
		return errs
	}
	if err := f.Sync(); err != nil {
		// Nothing of the batch is known to be on disk: take it all back.
		err = fmt.Errorf("append to %s: fsync: %w", path, err)
		if terr := f.Truncate(old); terr != nil {
			err = fmt.Errorf("%w (truncate back to %d: %v)", err, old, terr)
		} else {
			_ = f.Sync()
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

// write appends the From_ line and the message at offset off and
// returns the offset after it; the caller syncs.
func (s *Spool) write(f *os.File, off int64, sender string, t time.Time, msg io.Reader) (int64, error) {
	ow := &offsetWriter{f: f, off: off}
	var w io.Writer = ow
	if s.failAfter > 0 {
		w = &failingWriter{w: w, left: s.failAfter}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := WriteMbox(bw, sender, t, msg); err != nil {
		return ow.off, err
	}
	if err := bw.Flush(); err != nil {
		return ow.off, err
	}
	return ow.off, nil
}

// WriteMbox writes one mbox entry as procmail -Y writes it: the From_ line
// "From <sender>  <asctime>" (an empty sender is written as
// MAILER-DAEMON), the message with a leading From_ line of its own
// dropped and every other line that starts with "From " quoted as
// ">From ", and a final LF unless the message already ends in an empty
// line (a message without a final newline gets just that newline).
func WriteMbox(w *bufio.Writer, sender string, t time.Time, msg io.Reader) error {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	if _, err := w.WriteString("From " + sender + "  " + t.Format("Mon Jan _2 15:04:05 2006") + "\n"); err != nil {
		return err
	}
	br := bufio.NewReaderSize(msg, 64<<10)
	first := true     // on the message's first line
	bol := true       // at the beginning of a line
	skipping := false // dropping the message's own From_ line
	var last [2]byte
	n := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			lineStart := bol
			bol = chunk[len(chunk)-1] == '\n'
			switch {
			case skipping:
				skipping = !bol
				chunk = nil
			case lineStart && len(chunk) >= 5 && string(chunk[:5]) == "From ":
				if first {
					// procmail replaces a From_ line the message
					// brings with its own.
					skipping = !bol
					chunk = nil
				} else if err := w.WriteByte('>'); err != nil {
					return err
				}
			}
			first = false
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			for _, c := range chunk[max(0, len(chunk)-2):] {
				last[0], last[1] = last[1], c
				n++
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read message: %w", err)
		}
	}
	if n == 0 || last[1] != '\n' || n < 2 || last[0] != '\n' {
		return w.WriteByte('\n')
	}
	return nil
}

// openMailbox opens (or creates) the mailbox for appending and checks it
// is safe to write: a regular file with one link, not a symbolic link,
// owned by the recipient.
func (s *Spool) openMailbox(path string, rcpt Recipient) (*os.File, bool, error) {
	for range 5 {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err == nil {
			f := os.NewFile(uintptr(fd), path)
			if err := checkMailbox(f, path, rcpt); err != nil {
				f.Close()
				return nil, false, err
			}
			return f, false, nil
		}
		if err == unix.ELOOP {
			return nil, false, fmt.Errorf("%s: symbolic link: %w", path, ErrUnsafeMailbox)
		}
		if err != unix.ENOENT {
			return nil, false, fmt.Errorf("open %s: %w", path, err)
		}
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0o660)
		if err == unix.EEXIST {
			continue // lost a race with another deliverer
		}
		if err != nil {
			return nil, false, fmt.Errorf("create %s: %w", path, err)
		}
		f := os.NewFile(uintptr(fd), path)
		if err := s.initMailbox(f, rcpt); err != nil {
			f.Close()
			os.Remove(path)
			return nil, false, fmt.Errorf("create %s: %w", path, err)
		}
		return f, true, nil
	}
	return nil, false, fmt.Errorf("open %s: mailbox keeps changing", path)
}

// initMailbox gives a new mailbox Debian's owner, group and mode: the
// user, group mail, 0660 (whatever the umask).
func (s *Spool) initMailbox(f *os.File, rcpt Recipient) error {
	if os.Geteuid() == 0 {
		gid := s.MailGID
		if gid == 0 {
			gid = mailGID()
		}
		if err := f.Chown(rcpt.UID, gid); err != nil {
			return err
		}
	}
	return f.Chmod(0o660)
}

func mailGID() int {
	g, err := user.LookupGroup("mail")
	if err != nil {
		return 8
	}
	n, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 8
	}
	return n
}

func checkMailbox(f *os.File, path string, rcpt Recipient) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%s: not a regular file: %w", path, ErrUnsafeMailbox)
	case st.Nlink != 1:
		return fmt.Errorf("%s: %d hard links: %w", path, st.Nlink, ErrUnsafeMailbox)
	case int(st.Uid) != rcpt.UID:
		return fmt.Errorf("%s: owned by uid %d, not %d: %w", path, st.Uid, rcpt.UID, ErrUnsafeMailbox)
	}
	return nil
}

// sameFile checks that path still names the open file f and is no
// symbolic link.
func sameFile(f *os.File, path string) error {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if err := unix.Lstat(path, &b); err != nil {
		return fmt.Errorf("%s: replaced while locking: %w", path, ErrUnsafeMailbox)
	}
	if a.Dev != b.Dev || a.Ino != b.Ino || b.Nlink != 1 {
		return fmt.Errorf("%s: replaced while locking: %w", path, ErrUnsafeMailbox)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// offsetWriter counts where the entry ends; the file is opened with
// O_APPEND under the lock, so writes land at the end.
type offsetWriter struct {
	f   *os.File
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	o.off += int64(n)
	return n, err
}

type failingWriter struct {
	w    io.Writer
	left int64
}

var errInjected = errors.New("injected write failure")

func (fw *failingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > fw.left {
		n, _ := fw.w.Write(p[:fw.left])
		fw.left = 0
		return n, errInjected
	}
	fw.left -= int64(len(p))
	return fw.w.Write(p)
}
