// SPDX-License-Identifier: MIT

package bdb

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Meta-page magic numbers (offset 12).
const (
	magicHash  = 0x00061561
	magicBTree = 0x00053162
)

// Common page header layout (26 bytes; 32 with checksums).
const (
	offPgno     = 8
	offPrevPgno = 12
	offNextPgno = 16
	offEntries  = 20
	offHfOffset = 22
	offLevel    = 24
	offType     = 25
	pageHdrSize = 26
	pageHdrSum  = 32 // header size when the meta page's metaflags has 0x01
)

// pager gives read access to the pages of one file. Pages come from a
// read-only memory mapping when the file could be mapped, else from
// ReadAt; either way nothing but the pages asked for is read.
type pager struct {
	r        io.ReaderAt
	data     []byte // the mapping, when mapped
	size     int64  // file size in bytes
	pageSize int
	order    binary.ByteOrder
	big      bool   // order is big-endian: lets u16 and u32 inline
	hdr      int    // offset of the index array / overflow data: 26 or 32
	npages   uint32 // number of whole or partial pages in the file
}

// page returns page n. A page beyond the end of the file, or the part of
// a partial last page past EOF, reads as zeros, as in BDB. The returned
// slice must not be modified; with ReadAt it is freshly allocated.
func (p *pager) page(n uint32) ([]byte, error) {
	off := int64(n) * int64(p.pageSize)
	if p.data != nil {
		if off+int64(p.pageSize) <= int64(len(p.data)) {
			return p.data[off : off+int64(p.pageSize) : off+int64(p.pageSize)], nil
		}
		buf := make([]byte, p.pageSize)
		if off < int64(len(p.data)) {
			copy(buf, p.data[off:])
		}
		return buf, nil
	}
	buf := make([]byte, p.pageSize)
	if off >= p.size {
		return buf, nil
	}
	if _, err := p.r.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read page %d: %w", n, err)
	}
	return buf, nil
}

// u16 and u32 read an integer in the file's byte order. They test a bool
// rather than call through p.order so that they inline: a lookup reads a
// few hundred index entries.
func (p *pager) u16(b []byte, off int) uint16 {
	if p.big {
		return binary.BigEndian.Uint16(b[off:])
	}
	return binary.LittleEndian.Uint16(b[off:])
}

func (p *pager) u32(b []byte, off int) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b[off:])
	}
	return binary.LittleEndian.Uint32(b[off:])
}

// mapFile maps f read-only. It returns nil (and no error) for an empty
// file or where mapping is not possible, so callers fall back to ReadAt.
func mapFile(f *os.File, size int64) []byte {
	if size <= 0 || size != int64(int(size)) {
		return nil
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	return data
}

// detectOrder reads the magic at offset 12 of the meta page in both byte
// orders and returns the access method and the file's byte order.
func detectOrder(meta []byte) (Type, binary.ByteOrder, error) {
	if len(meta) < 512 {
		return 0, nil, corruptf("file shorter than a meta page")
	}
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch o.Uint32(meta[12:]) {
		case magicHash:
			return Hash, o, nil
		case magicBTree:
			return BTree, o, nil
		}
	}
	return 0, nil, corruptf("not a Berkeley DB hash or btree file (magic %#08x)", binary.LittleEndian.Uint32(meta[12:]))
}
