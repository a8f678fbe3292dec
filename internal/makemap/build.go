// SPDX-License-Identifier: MIT

package makemap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailsuite/pkg/bdb"
)

// builder makes one map from the source lines.
type builder struct {
	opts    Options
	prog    string
	kind    bdb.Type
	anyKind bool // type implicit: -o takes a hash or a btree file
	target  target
	trusted uint32
	stdout  *bufio.Writer
	stderr  io.Writer
	openErr func(error) int

	lock *os.File // the existing map, flocked exclusively
}

func (b *builder) run(stdin io.Reader) int {
	o := b.opts
	dups := o.Duplicates
	var w *bdb.Writer
	if b.target.exists {
		f, err := b.lockTarget()
		if err != nil {
			return b.openErr(err)
		}
		defer f.Close()
		b.lock = f
	}
	// seen holds the keys when a -o map has duplicates but this run does
	// not allow them: DB_NOOVERWRITE still refuses an existing key.
	var seen map[string]struct{}
	if o.Append {
		db, err := bdb.NewReader(b.lock, int64(b.target.info.Size))
		if err != nil {
			return b.openErr(syscall.EINVAL)
		}
		if db.Type() != b.kind {
			if !b.anyKind {
				return b.openErr(syscall.EINVAL)
			}
			b.kind = db.Type()
		}
		if o.Duplicates && !db.Duplicates() {
			return b.openErr(syscall.EINVAL)
		}
		dups = dups || db.Duplicates()
		w = bdb.NewWriter(b.kind, bdb.WriterOptions{Duplicates: dups})
		if dups && !o.Duplicates && !o.Replace {
			seen = make(map[string]struct{})
		}
		err = db.Walk(func(key, val []byte) error {
			if seen != nil {
				seen[string(key)] = struct{}{}
			}
			return w.Put(key, val)
		})
		if err != nil {
			return b.openErr(syscall.EINVAL)
		}
	} else {
		w = bdb.NewWriter(b.kind, bdb.WriterOptions{Duplicates: dups})
	}

	status := b.load(stdin, w, dups, seen)
	if err := b.write(w); err != nil {
		fmt.Fprintf(b.stderr, "%s: close(%s): %s\n", b.prog, o.Map, errText(err))
		status = exIOErr
	}
	return status
}

// lockTarget opens the existing map and takes the exclusive flock the
// real makemap takes, so that it and sendmail's lookups serialize with us.
// If the file was replaced while we waited (another makemap of ours
// renamed a new one into place), it locks the new file instead, and it
// refreshes what the checks saw of it.
func (b *builder) lockTarget() (*os.File, error) {
	for tries := 0; ; tries++ {
		f, err := os.OpenFile(b.target.path, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		var locked, now syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &locked); err != nil {
			f.Close()
			return nil, err
		}
		err = syscall.Stat(b.target.path, &now)
		if err == nil && now.Dev == locked.Dev && now.Ino == locked.Ino || tries >= 10 {
			b.target.info.Size = locked.Size
			b.target.info.Mode = locked.Mode
			b.target.info.Uid, b.target.info.Gid = locked.Uid, locked.Gid
			b.target.info.Nlink = locked.Nlink
			return f, nil
		}
		f.Close()
	}
}

// load reads the source lines into w and returns the exit status so far.
func (b *builder) load(stdin io.Reader, w *bdb.Writer, dups bool, seen map[string]struct{}) int {
	o := b.opts
	status := exOK
	sc := NewScanner(stdin)
	for sc.Scan() {
		kind, key, val := ParseLine(sc.Line(), o.SyntaxOptions)
		if kind == LineSkip {
			continue
		}
		if kind != LineRecord {
			fmt.Fprintf(b.stderr, "%s: %s: line %d: %s\n", b.prog, o.Map, sc.LineNo(), kind.Message(key))
			status = exDataErr
			continue
		}
		if o.Verbose {
			fmt.Fprintf(b.stdout, "key=`%s', val=`%s'\n", cString(key), cString(val))
		}
		dup := false
		switch {
		case seen != nil:
			if _, ok := seen[string(key)]; ok {
				dup = true
			} else {
				seen[string(key)] = struct{}{}
				w.Put(key, val)
			}
		case o.Replace && !dups:
			w.Replace(key, val)
		default:
			if err := w.Put(key, val); errors.Is(err, bdb.ErrKeyExists) {
				dup = true
			}
		}
		if dup {
			fmt.Fprintf(b.stderr, "%s: %s: line %d: key %s: duplicate key\n", b.prog, o.Map, sc.LineNo(), cString(key))
			status = exDataErr
		}
	}
	return status
}

// write puts the map in place: into a new file in the same directory,
// synced, given the old file's mode and owner (or 0640 less the umask),
// chowned to TrustedUser when run as root, renamed over the map, and the
// directory synced. A map with other hard links (allowed by -s) is
// rewritten in place instead, as the real makemap does, so that every name
// sees the new contents.
func (b *builder) write(w *bdb.Writer) error {
	t := b.target
	if t.exists && t.info.Nlink > 1 {
		f := b.lock
		if err := f.Truncate(0); err != nil {
			return err
		}
		if err := writeFile(f, w, 0); err != nil {
			return err
		}
		return b.chown(f)
	}
	dir := filepath.Dir(t.path)
	var f *os.File
	var err error
	for i := 0; ; i++ {
		name := filepath.Join(dir, "."+filepath.Base(t.path)+".tmp"+strconv.FormatInt(time.Now().UnixNano()+int64(i), 36))
		// The kernel applies the umask, as to the real makemap's open.
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil || !os.IsExist(err) || i > 100 {
			break
		}
	}
	if err != nil {
		return err
	}
	tmp := f.Name()
	done := false
	stop := removeOnSignal(tmp)
	defer func() {
		stop()
		f.Close()
		if !done {
			os.Remove(tmp)
		}
	}()
	if t.exists {
		if err := f.Chmod(os.FileMode(t.info.Mode & 0o7777)); err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			if err := f.Chown(int(t.info.Uid), int(t.info.Gid)); err != nil {
				return err
			}
			if t.info.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
				// chown clears set-id bits; put them back.
				if err := f.Chmod(os.FileMode(t.info.Mode & 0o7777)); err != nil {
					return err
				}
			}
		}
	}
	if err := b.chown(f); err != nil {
		return err
	}
	if err := writeFile(f, w, 0); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return err
	}
	done = true
	return syncDir(dir)
}

// removeOnSignal removes the temporary file tmp if makemap is interrupted
// or terminated before it is renamed into place, and then dies of the
// signal. The returned function cancels that.
func removeOnSignal(tmp string) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-ch:
			os.Remove(tmp)
			signal.Reset(sig)
			syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-quit:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
		wg.Wait()
	}
}

// chown gives f to TrustedUser when running as root, as makemap does; a
// failure is only a warning.
func (b *builder) chown(f *os.File) error {
	if os.Geteuid() != 0 || b.trusted == 0 {
		return nil
	}
	if err := unix.Fchown(int(f.Fd()), int(b.trusted), -1); err != nil {
		fmt.Fprintf(b.stderr, "WARNING: ownership change on %s failed %s", b.opts.Map, errText(err))
	}
	return nil
}

// writeFile writes the database to f at offset off and syncs it.
func writeFile(f *os.File, w *bdb.Writer, off int64) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 256*1024)
	if _, err := w.WriteTo(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
