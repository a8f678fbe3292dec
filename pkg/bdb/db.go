// SPDX-License-Identifier: MIT

package bdb

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"
)

// accessMethod is what the hash and btree readers implement.
type accessMethod interface {
	// first returns the first value stored under key (the first of a
	// duplicate set, as DB->get returns it).
	first(key []byte) (val []byte, ok bool, err error)
	// all returns every value stored under key, in stored order.
	all(key []byte) ([][]byte, error)
	// walk calls fn for every record in cursor order (the order of
	// makemap -u and db_dump), duplicates in stored order.
	walk(fn func(key, val []byte) error) error
	// duplicates reports whether the file was created with DB_DUP.
	duplicates() bool
}

// OpenOptions tune Open. The zero value is what sendmaild uses.
type OpenOptions struct {
	// LockEachLookup takes a shared flock around every Get, GetAll and
	// Walk, as Sendmail does, so that a makemap rebuilding the file in
	// place under an exclusive flock waits for the lookup and the lookup
	// waits for the rebuild. Without it only Open takes the lock.
	LockEachLookup bool
	// NoMmap reads pages with pread instead of a memory mapping.
	NoMmap bool
}

// DB is an open database file. Its methods are safe for concurrent use.
type DB struct {
	typ  Type
	p    *pager
	am   accessMethod
	f    *os.File // nil for NewReader
	lock bool
	fi   os.FileInfo

	closeOnce sync.Once
}

// Open opens the hash or btree file at path for reading, detecting the
// access method and byte order from its meta page. It takes a shared
// flock while it reads the meta page, as Sendmail does.
func Open(path string) (*DB, error) { return OpenWith(path, OpenOptions{}) }

// OpenWith is Open with options.
func OpenWith(path string, opts OpenOptions) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var data []byte
	if !opts.NoMmap {
		data = mapFile(f, fi.Size())
	}
	db, err := newDB(f, data, fi.Size())
	if err != nil {
		if data != nil {
			unix.Munmap(data)
		}
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	db.f = f
	db.fi = fi
	db.lock = opts.LockEachLookup
	return db, nil
}

// NewReader reads a database from r, which holds size bytes.
func NewReader(r io.ReaderAt, size int64) (*DB, error) {
	return newDB(r, nil, size)
}

func newDB(r io.ReaderAt, data []byte, size int64) (db *DB, err error) {
	defer recoverFault(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	meta := make([]byte, 512)
	if size < 512 {
		return nil, corruptf("file of %d bytes is shorter than a meta page", size)
	}
	if data != nil {
		copy(meta, data)
	} else if _, err := r.ReadAt(meta, 0); err != nil && err != io.EOF {
		return nil, err
	}
	typ, order, err := detectOrder(meta)
	if err != nil {
		return nil, err
	}
	ps := int(order.Uint32(meta[20:]))
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, corruptf("bad page size %d", ps)
	}
	if meta[24] != 0 {
		return nil, fmt.Errorf("%w: encrypted database", ErrUnsupported)
	}
	p := &pager{r: r, data: data, size: size, pageSize: ps, order: order, big: order == binary.ByteOrder(binary.BigEndian), hdr: pageHdrSize}
	if meta[26]&0x01 != 0 {
		p.hdr = pageHdrSum
	}
	p.npages = uint32((size + int64(ps) - 1) / int64(ps))
	metaPage, err := p.page(0)
	if err != nil {
		return nil, err
	}
	db = &DB{typ: typ, p: p}
	switch typ {
	case Hash:
		db.am, err = openHash(p, metaPage)
	case BTree:
		db.am, err = openBTree(p, metaPage)
	}
	if err != nil {
		return nil, err
	}
	return db, nil
}

// recoverFault turns a memory fault while reading a mapped file (the file
// was truncated under us, e.g. by a real makemap rebuilding it in place)
// into an error. It must be deferred directly: recover only stops a panic
// when called by the deferred function itself.
func recoverFault(err *error) {
	if r := recover(); r != nil {
		*err = faultError(r)
	}
}

// faultError returns the error for a recovered memory fault and panics
// again with anything else.
func faultError(r any) error {
	if _, ok := r.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("%w: file changed while reading it", ErrCorrupt)
	}
	panic(r)
}

// enter starts one read operation: it makes memory faults panic (so that
// leave can turn them into errors) and takes the per-lookup lock when
// asked to. It returns the previous SetPanicOnFault setting for leave.
func (db *DB) enter() bool {
	old := debug.SetPanicOnFault(true)
	if db.lock && db.f != nil {
		unix.Flock(int(db.f.Fd()), unix.LOCK_SH)
	}
	return old
}

// leave ends what enter started. It must be deferred directly.
func (db *DB) leave(old bool, err *error) {
	if db.lock && db.f != nil {
		unix.Flock(int(db.f.Fd()), unix.LOCK_UN)
	}
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		*err = faultError(r)
	}
}

// Type reports the file's access method.
func (db *DB) Type() Type { return db.typ }

// PageSize reports the file's page size.
func (db *DB) PageSize() int { return db.p.pageSize }

// BigEndian reports whether the file was written on a big-endian host.
func (db *DB) BigEndian() bool { return db.p.order.Uint16([]byte{0, 1}) == 1 }

// Duplicates reports whether the file allows several values per key.
func (db *DB) Duplicates() bool { return db.am.duplicates() }

// Get returns the value stored under key; for a duplicate set, the first
// one. The returned slice may alias the file mapping: copy it to keep it
// past Close.
func (db *DB) Get(key []byte) (val []byte, ok bool, err error) {
	defer db.leave(db.enter(), &err)
	return db.am.first(key)
}

// GetAll returns every value stored under key, in stored order. Like
// Get's, the slices may alias the file mapping.
func (db *DB) GetAll(key []byte) (vals [][]byte, err error) {
	defer db.leave(db.enter(), &err)
	return db.am.all(key)
}

// Walk calls fn for every record in cursor order (the order makemap -u
// and db_dump list them in). It stops at, and returns, fn's first error.
// key and val may alias the file mapping or a page buffer: fn must copy
// them to keep them after it returns.
func (db *DB) Walk(fn func(key, val []byte) error) (err error) {
	defer db.leave(db.enter(), &err)
	return db.am.walk(fn)
}

// Changed reports whether the file at the path given to Open is no longer
// the file this DB reads (replaced by a rename, rewritten in place, or
// removed), as Sendmail checks before each lookup; the caller should then
// open it again. It is always false for NewReader.
func (db *DB) Changed() bool {
	if db.f == nil || db.fi == nil {
		return false
	}
	cur, err := os.Stat(db.f.Name())
	if err != nil {
		return true
	}
	return !os.SameFile(cur, db.fi) || !cur.ModTime().Equal(db.fi.ModTime()) || cur.Size() != db.fi.Size()
}

// Close releases the file and its mapping.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		if db.p != nil && db.p.data != nil {
			unix.Munmap(db.p.data)
			db.p.data = nil
		}
		if db.f != nil {
			err = db.f.Close()
		}
	})
	return err
}
