// SPDX-License-Identifier: MIT

package bdb

import (
	"io"
)

// WriterOptions describe the file a Writer makes. The zero value makes
// what Debian's makemap makes on amd64: 4096-byte little-endian pages, no
// duplicates.
type WriterOptions struct {
	// PageSize is a power of two from 512 to 65536; 0 means 4096.
	PageSize int
	// BigEndian writes a file as a big-endian host would.
	BigEndian bool
	// Duplicates allows several values per key (DB_DUP, makemap -d),
	// kept in the order they were put.
	Duplicates bool
}

// record is one key/value pair in insertion order.
type record struct {
	key, val []byte
}

// Writer collects records and writes them out as one database file.
type Writer struct {
	typ  Type
	opts WriterOptions
	recs []record
	idx  map[string]int // key → index in recs of its first record
}

// NewWriter returns a Writer for a file of access method t.
func NewWriter(t Type, opts WriterOptions) *Writer {
	if opts.PageSize == 0 {
		opts.PageSize = 4096
	}
	return &Writer{typ: t, opts: opts, idx: make(map[string]int)}
}

// Put adds a record. Without Duplicates, a key already put gives
// ErrKeyExists and the stored value is kept; with Duplicates the value is
// appended to the key's set. Put copies key and val.
func (w *Writer) Put(key, val []byte) error {
	if _, ok := w.idx[string(key)]; ok && !w.opts.Duplicates {
		return ErrKeyExists
	} else if !ok {
		w.idx[string(key)] = len(w.recs)
	}
	w.recs = append(w.recs, record{key: clone(key), val: clone(val)})
	return nil
}

// Replace stores val under key, replacing any value put before (makemap
// -r). With Duplicates it appends like Put, as DB->put does on a DB_DUP
// database.
func (w *Writer) Replace(key, val []byte) {
	i, ok := w.idx[string(key)]
	if !ok || w.opts.Duplicates {
		w.Put(key, val)
		return
	}
	w.recs[i].val = clone(val)
}

// Len reports the number of records put (duplicates counted).
func (w *Writer) Len() int { return len(w.recs) }

// WriteTo writes the database file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	switch w.typ {
	case Hash:
		return writeHash(out, w.recs, w.opts)
	case BTree:
		return writeBTree(out, w.recs, w.opts)
	}
	return 0, ErrUnsupported
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
