// SPDX-License-Identifier: MIT

// Package bdb reads and writes Berkeley DB 5.3 database files of the two
// access methods Sendmail's makemap uses, hash and btree, in pure Go.
//
// Files are read page by page: a lookup touches only the pages on its path
// (the meta page, a bucket chain or a root-to-leaf path, and any overflow
// pages), never the whole file. Both byte orders, every legal page size,
// page checksums (skipped, not verified), overflow items and duplicate sets
// (on-page and off-page) are understood. Encrypted files, sub-databases and
// queue/recno databases are refused.
//
// The writer builds a whole file from a set of records in one pass, laid
// out the way BDB itself lays pages out, so that the real Sendmail,
// makemap -u and db5.3_verify accept it. It does not update files in place.
//
// The package does no locking of its own beyond what Open documents and
// keeps no global state.
package bdb

import (
	"errors"
	"fmt"
)

// Type is a Berkeley DB access method.
type Type int

// The access methods this package reads and writes.
const (
	Hash  Type = 1
	BTree Type = 2
)

func (t Type) String() string {
	switch t {
	case Hash:
		return "hash"
	case BTree:
		return "btree"
	}
	return fmt.Sprintf("bdb.Type(%d)", int(t))
}

// ErrCorrupt is wrapped by every error that reports a malformed file: bad
// magic, a page number out of range, an item that overruns its page, a
// page chain that loops.
var ErrCorrupt = errors.New("corrupt database")

// ErrUnsupported is wrapped by errors for valid files this package does
// not handle (encryption, sub-databases, other access methods).
var ErrUnsupported = errors.New("unsupported database")

// ErrKeyExists is returned by Writer.Put for a repeated key when the
// writer was not created with Duplicates.
var ErrKeyExists = errors.New("key exists")

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
