// SPDX-License-Identifier: MIT

package bdb

import (
	"fmt"
	"hash/maphash"
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

	// Keys and values are copied into large chunks rather than one
	// allocation each: a million-record map then costs a few dozen
	// allocations and little garbage-collector work.
	arena []byte

	// tab is an open-addressing set of the keys put so far (record
	// index+1 of each key's first record, 0 for a free slot), used to
	// find repeated keys. A Writer with Duplicates does not need it.
	tab   []int32
	nkeys int
	seed  maphash.Seed
}

// NewWriter returns a Writer for a file of access method t.
func NewWriter(t Type, opts WriterOptions) *Writer {
	if opts.PageSize == 0 {
		opts.PageSize = 4096
	}
	return &Writer{typ: t, opts: opts, seed: maphash.MakeSeed()}
}

// lookup returns the slot of key in tab and the index in recs of its
// first record, or -1 when the key is new (then slot is where it goes).
func (w *Writer) lookup(key []byte) (slot, idx int) {
	if len(w.tab) == 0 {
		w.tab = make([]int32, 1024)
	}
	mask := len(w.tab) - 1
	for i := int(maphash.Bytes(w.seed, key)) & mask; ; i = (i + 1) & mask {
		r := w.tab[i]
		if r == 0 {
			return i, -1
		}
		if string(w.recs[r-1].key) == string(key) {
			return i, int(r - 1)
		}
	}
}

// addKey records that recs[idx] is the first record of a new key that
// lookup placed at slot, growing the table to stay at most half full.
func (w *Writer) addKey(slot, idx int) {
	w.tab[slot] = int32(idx + 1)
	w.nkeys++
	if 2*w.nkeys <= len(w.tab) {
		return
	}
	old := w.tab
	w.tab = make([]int32, 2*len(old))
	mask := len(w.tab) - 1
	for _, r := range old {
		if r == 0 {
			continue
		}
		i := int(maphash.Bytes(w.seed, w.recs[r-1].key)) & mask
		for w.tab[i] != 0 {
			i = (i + 1) & mask
		}
		w.tab[i] = r
	}
}

// Put adds a record. Without Duplicates, a key already put gives
// ErrKeyExists and the stored value is kept; with Duplicates the value is
// appended to the key's set. Put copies key and val.
func (w *Writer) Put(key, val []byte) error {
	if w.opts.Duplicates {
		w.add(key, val)
		return nil
	}
	if len(w.recs) >= 1<<31-1 {
		return fmt.Errorf("more than %d records", 1<<31-1)
	}
	slot, idx := w.lookup(key)
	if idx >= 0 {
		return ErrKeyExists
	}
	w.add(key, val)
	w.addKey(slot, len(w.recs)-1)
	return nil
}

// add appends a copy of the record. The slice doubles when full, where
// append would grow a large slice by a quarter at a time and leave four
// times its final size behind as garbage.
func (w *Writer) add(key, val []byte) {
	if len(w.recs) == cap(w.recs) {
		grown := make([]record, len(w.recs), max(1024, 2*cap(w.recs)))
		copy(grown, w.recs)
		w.recs = grown
	}
	w.recs = append(w.recs, record{key: w.clone(key), val: w.clone(val)})
}

// Replace stores val under key, replacing any value put before (makemap
// -r). With Duplicates it appends like Put, as DB->put does on a DB_DUP
// database.
func (w *Writer) Replace(key, val []byte) {
	if w.opts.Duplicates {
		w.Put(key, val)
		return
	}
	if _, idx := w.lookup(key); idx >= 0 {
		w.recs[idx].val = w.clone(val)
		return
	}
	w.Put(key, val)
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

// arenaChunk is the size of the chunks keys and values are copied into.
const arenaChunk = 256 << 10

// clone copies b into the arena. The copy's capacity ends with it, so an
// append to it cannot overwrite its neighbour.
func (w *Writer) clone(b []byte) []byte {
	if len(b) > arenaChunk/4 {
		return append([]byte(nil), b...)
	}
	if len(b) > cap(w.arena)-len(w.arena) {
		w.arena = make([]byte, 0, arenaChunk)
	}
	n := len(w.arena)
	w.arena = append(w.arena, b...)
	return w.arena[n : n+len(b) : n+len(b)]
}
