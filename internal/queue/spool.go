// SPDX-License-Identifier: MIT

package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// File name prefixes, sendmail's queue letters.
const (
	prefixQF   = "qf" // control file
	prefixDF   = "df" // data file (the body)
	prefixTF   = "tf" // control file being written
	prefixLost = "Qf" // control file moved aside as unreadable
	prefixOldT = "Tf" // temporary file left over by a crash, moved aside
	prefixXF   = "xf" // transcript
)

// ErrTooBig is returned by Pending.Write once the body exceeds the size
// limit given to Prepare. Sendmail answers it with 552 5.3.4.
var ErrTooBig = errors.New("message size exceeds fixed maximum message size")

// ErrLocked reports a queue file another process (sendmail or us) is
// working on.
var ErrLocked = errors.New("queue file locked")

// Options configure a Queue. The zero value is usable.
type Options struct {
	// FileMode is the mode of new queue files (sendmail's
	// QueueFileMode); 0600 when zero.
	FileMode fs.FileMode
	// Logger receives one line per event that an admin must know about
	// (a queue file moved aside, a leftover file); slog.Default when nil.
	Logger *slog.Logger
	// OrphanAge is how old a tf file without its qf must be before
	// Recover moves it aside; younger ones may belong to a process
	// writing right now. One hour when zero (sendmail's DATA timeout).
	OrphanAge time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Alert, when set, receives the events sendmail logs at LOG_ALERT
	// in its own words ("Losing ./qf<qid>: <why>"), for the mail log
	// (internal/maillog). They also go to Logger.
	Alert func(qid, msg string)
}

// Queue is one sendmail queue directory (QueueDirectory).
type Queue struct {
	dir  string
	opts Options
	log  *slog.Logger
}

// Open returns the queue in dir, which must exist.
func Open(dir string, opts Options) (*Queue, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open queue %s: not a directory", dir)
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o600
	}
	if opts.OrphanAge == 0 {
		opts.OrphanAge = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Queue{dir: dir, opts: opts, log: log}, nil
}

// Dir returns the queue directory.
func (q *Queue) Dir() string { return q.dir }

// NewID returns a queue id in sendmail's 14-character form, unique among
// the processes sharing the queue. Prepare checks that no file of the
// queue uses it yet.
func (q *Queue) NewID() string { return ids.next() }

func (q *Queue) path(prefix, id string) string {
	return filepath.Join(q.dir, prefix+id)
}

// Pending is a message whose body is being received. Nothing of it is
// visible to queue runs or mailq until Commit returns.
type Pending struct {
	q    *Queue
	id   string
	df   *os.File
	size int64
	opts PrepareOptions
	cr   bool // a CR held back by CRLF conversion
	buf  []byte
	err  error
	done bool

	// Header splitting (PrepareOptions.SplitHeader).
	hdr     []Header
	hdrDone bool
	partial []byte
	hdrSize int
}

// PrepareOptions tune one message's body. The zero value takes the body
// as given, with no size limit.
type PrepareOptions struct {
	// Limit bounds the message size as Size counts it (sendmail's
	// MaxMessageSize); 0 for none.
	Limit int64
	// CRLF converts CRLF line ends to the LF sendmail keeps in df files,
	// for callers that pass the SMTP data as received.
	CRLF bool
	// SplitHeader takes the whole message: the header fields are kept
	// back (see Pending.Header) as sendmail's collect keeps them for the
	// qf, and only the body reaches the df. Without it the caller writes
	// the body only.
	SplitHeader bool
}

// Prepare starts a message with queue id id (from NewID): it creates
// df<id>, to which the body is then written as it arrives. The body is
// what sendmail keeps in its df file: the data after the header (the
// header goes to the qf's H lines, see ReadHeader), lines ended by "\n",
// dots unstuffed.
func (q *Queue) Prepare(ctx context.Context, id string, o PrepareOptions) (*Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, fmt.Errorf("prepare %q: bad queue id", id)
	}
	// An id still used by any file of the queue (a qf, a leftover tf or
	// a lost Qf) is refused: the caller takes a new one.
	for _, p := range []string{prefixQF, prefixTF, prefixLost} {
		if _, err := os.Lstat(q.path(p, id)); err == nil {
			return nil, fmt.Errorf("prepare %s: %w", id, fs.ErrExist)
		}
	}
	f, err := os.OpenFile(q.path(prefixDF, id), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, q.opts.FileMode)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", id, err)
	}
	return &Pending{q: q, id: id, df: f, opts: o}, nil
}

// ID returns the message's queue id.
func (p *Pending) ID() string { return p.id }

// Size returns the size of the message written so far as sendmail counts
// it: header and body (or the body alone without SplitHeader), with LF
// line ends.
func (p *Pending) Size() int64 { return p.size }

// Write appends body bytes. Past the size limit it returns ErrTooBig and
// keeps failing; the caller then aborts.
func (p *Pending) Write(b []byte) (int, error) {
	if p.done {
		return 0, errors.New("write to finished message")
	}
	if p.err != nil {
		return 0, p.err
	}
	out := b
	if p.opts.CRLF {
		out = p.unCRLF(b)
	}
	// Sizes count the message as sendmail does, with LF line ends.
	if p.opts.Limit > 0 && p.size+int64(len(out)) > p.opts.Limit {
		p.err = ErrTooBig
		return 0, p.err
	}
	p.size += int64(len(out))
	if p.opts.SplitHeader && !p.hdrDone {
		var first []byte
		first, out, p.err = p.splitHeader(out)
		if p.err == nil && len(first) > 0 {
			p.err = p.writeDF(first)
		}
		if p.err != nil {
			return 0, p.err
		}
	}
	if err := p.writeDF(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *Pending) writeDF(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := p.df.Write(b); err != nil {
		p.err = fmt.Errorf("write %s: %w", p.df.Name(), err)
		return p.err
	}
	return nil
}

// splitHeader consumes header lines from b. It returns the first body
// line (a line that is not a header field, which ends the header) and
// the rest of b once the header has ended.
func (p *Pending) splitHeader(b []byte) (first, rest []byte, err error) {
	for !p.hdrDone {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			p.hdrSize += len(b)
			if p.hdrSize > maxHeader {
				return nil, nil, ErrHeaderTooLong
			}
			return nil, nil, nil
		}
		line := append(p.partial, b[:i+1]...)
		p.partial = nil
		b = b[i+1:]
		p.hdrSize += i + 1
		if p.hdrSize > maxHeader {
			return nil, nil, ErrHeaderTooLong
		}
		var isBody bool
		p.hdr, isBody, p.hdrDone = headerLine(p.hdr, line)
		if isBody {
			return line, b, nil
		}
	}
	return nil, b, nil
}

// Header returns the header fields kept back by SplitHeader, values as
// in the qf (text after the colon, folds joined with "\n").
func (p *Pending) Header() []Header { return p.hdr }

// unCRLF drops the CR of every CRLF in b, holding a final CR back until
// the next write shows what follows it.
func (p *Pending) unCRLF(b []byte) []byte {
	out := p.buf[:0]
	for _, c := range b {
		if p.cr {
			p.cr = false
			if c != '\n' {
				out = append(out, '\r')
			}
		}
		if c == '\r' {
			p.cr = true
			continue
		}
		out = append(out, c)
	}
	p.buf = out
	return out
}

// Commit makes the message durable and queued: the df is synced, the
// control file env is written as tf<id>, synced, renamed to qf<id>, and
// the directory synced. When Commit returns nil the message is on disk
// and the SMTP server may answer 250; on error nothing of it is left
// behind. env.Created defaults to now and env.Version to 8; an I line is
// added when env has none, as sendmail writes one.
func (p *Pending) Commit(env *Envelope) error {
	f, _, err := p.commit(env)
	if err == nil {
		f.Close()
	}
	return err
}

// CommitLocked is Commit that keeps the new qf open and locked (as
// sendmail's daemon child keeps it for the delivery that follows) and
// returns it as a Locked, whose envelope is what a Lock would read, so
// the caller can deliver the message at once without opening, locking
// and reading it again. A nil Locked with a nil error means the message
// is queued but not held (its envelope did not read back, which a queue
// run will report).
func (p *Pending) CommitLocked(env *Envelope) (*Locked, error) {
	f, written, err := p.commit(env)
	if err != nil {
		return nil, err
	}
	e, err := ReadEnvelope(bytes.NewReader(written))
	if err != nil {
		f.Close()
		return nil, nil
	}
	return &Locked{q: p.q, id: p.id, f: f, env: e}, nil
}

// commit is Commit, returning the qf still open and locked and the
// bytes written to it.
func (p *Pending) commit(env *Envelope) (*os.File, []byte, error) {
	if p.done {
		return nil, nil, errors.New("commit of finished message")
	}
	p.done = true
	if p.err != nil {
		p.cleanup()
		return nil, nil, p.err
	}
	if p.cr {
		p.cr = false
		p.size++
		tail := []byte{'\r'}
		if p.opts.SplitHeader && !p.hdrDone {
			p.partial = append(p.partial, tail...)
			tail = nil
		}
		if err := p.writeDF(tail); err != nil {
			p.cleanup()
			return nil, nil, err
		}
	}
	if p.opts.SplitHeader && !p.hdrDone && len(p.partial) > 0 {
		// A last line without its newline.
		var isBody bool
		p.hdr, isBody, p.hdrDone = headerLine(p.hdr, p.partial)
		if isBody {
			if err := p.writeDF(p.partial); err != nil {
				p.cleanup()
				return nil, nil, err
			}
		}
	}
	if env.Version == 0 {
		env.Version = Version
	}
	if env.Created == 0 {
		env.Created = p.q.opts.Now().Unix()
	}
	if env.Inode == "" {
		var st unix.Stat_t
		if err := unix.Fstat(int(p.df.Fd()), &st); err == nil {
			env.Inode = fmt.Sprintf("%d/%d/%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
		}
	}
	// The df is flushed while the tf is written and flushed: the two
	// fsyncs overlap, and both are done before the rename makes the
	// message queued. The directory sync after the rename makes both
	// names durable.
	df := p.df
	synced := make(chan error, 1)
	go func() {
		err := syncFile(df)
		if err != nil {
			err = fmt.Errorf("sync %s: %w", df.Name(), err)
		}
		if cerr := df.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", df.Name(), cerr)
		}
		synced <- err
	}()
	p.df = nil
	written := env.Bytes()
	f, renamed, err := p.q.writeControl(p.id, written, synced)
	if err != nil {
		// Once qf<id> exists the df must stay: the message may be
		// queued, and a qf without its df would lose it.
		if !renamed {
			p.cleanup()
		}
		return nil, nil, err
	}
	return f, written, nil
}

// Abort drops the message: its df file is removed. Abort after Commit
// does nothing.
func (p *Pending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	return p.cleanup()
}

func (p *Pending) cleanup() error {
	if p.df != nil {
		p.df.Close()
		p.df = nil
	}
	if err := os.Remove(p.q.path(prefixDF, p.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", p.id, err)
	}
	return nil
}

// writeControl writes the control file b to tf<id> (created exclusively and locked as
// sendmail locks it), syncs it, renames it over qf<id> and syncs the
// directory. It returns the new qf, still open and locked, so that a
// caller holding the message keeps its lock across the rewrite. before,
// if not nil, delivers the result of the caller's own flush (the df's):
// the rename waits for it, and fails with its error; writeControl does
// not return before it has come.
func (q *Queue) writeControl(id string, b []byte, before <-chan error) (f *os.File, renamed bool, err error) {
	if before != nil {
		// Whatever happens here, the caller's flush must be over
		// before we return.
		defer func() {
			if before != nil {
				<-before
			}
		}()
	}
	tf := q.path(prefixTF, id)
	f, err = os.OpenFile(tf, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, q.opts.FileMode)
	if err != nil {
		return nil, false, fmt.Errorf("create %s: %w", tf, err)
	}
	fail := func(err error) (*os.File, bool, error) {
		f.Close()
		os.Remove(tf)
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail(fmt.Errorf("lock %s: %w", tf, err))
	}
	if _, err := f.Write(b); err != nil {
		return fail(fmt.Errorf("write %s: %w", tf, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync %s: %w", tf, err))
	}
	if before != nil {
		err := <-before
		before = nil
		if err != nil {
			return fail(err)
		}
	}
	qf := q.path(prefixQF, id)
	if err := os.Rename(tf, qf); err != nil {
		return fail(fmt.Errorf("rename %s: %w", qf, err))
	}
	if err := syncDirBatched(q.dir); err != nil {
		// The rename may or may not survive a crash: the message is
		// queued but the caller must not claim so.
		f.Close()
		return nil, true, err
	}
	return f, true, nil
}

// syncFile flushes a data file; tests replace it.
var syncFile = (*os.File).Sync

// syncDir makes the directory entries of dir durable.
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
