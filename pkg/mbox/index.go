// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"unsafe"
)

// The index is one file (Options.IndexPath) holding the message list with
// offsets, sizes, UIDs, flags and keywords, stamped with the mbox's size,
// mtime, inode and device. It is used only while all four still match;
// otherwise the mbox is parsed again, since the mbox headers are the source
// of truth. It is rewritten atomically (temporary file, rename).
const indexMagic = "mailsuite-mbox-index 4\n"

type indexWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte

	prevEnd, prevDate int64 // of the message written last
}

func (iw *indexWriter) u(v uint64) {
	n := binary.PutUvarint(iw.buf[:], v)
	iw.w.Write(iw.buf[:n])
}
func (iw *indexWriter) i(v int64) {
	n := binary.PutVarint(iw.buf[:], v)
	iw.w.Write(iw.buf[:n])
}
func (iw *indexWriter) s(v string) {
	iw.u(uint64(len(v)))
	iw.w.WriteString(v)
}
func (iw *indexWriter) b(v bool) {
	if v {
		iw.u(1)
	} else {
		iw.u(0)
	}
}
func (iw *indexWriter) ints(v []int) {
	iw.u(uint64(len(v)))
	for _, x := range v {
		iw.u(uint64(x))
	}
}

// msg writes one message. Offsets, the date and the size are written as
// differences from the previous message's (or from each other), which
// keeps most of them to a byte or two: a warm SELECT decodes every record.
func (iw *indexWriter) msg(m *msg) {
	iw.u(uint64(m.uid))
	iw.u(uint64(m.flags))
	iw.u(uint64(m.hdrFlags))
	iw.ints(m.kw)
	iw.ints(m.hdrKw)
	iw.i(m.fromOff - iw.prevEnd)
	iw.i(m.hdrOff - m.fromOff)
	iw.i(m.bodyOff - m.hdrOff)
	iw.i(m.end - m.bodyOff)
	iw.prevEnd = m.end
	iw.b(m.haveEOH)
	iw.i(m.date - iw.prevDate)
	iw.prevDate = m.date
	iw.s(m.sender)
	iw.i(m.size - m.bodyVis)
	iw.i(m.bodyVis)
	iw.b(m.dirty)
	iw.b(m.recent)
	iw.b(m.pseudo)
	iw.b(m.baseOK)
	iw.u(uint64(m.baseLast))
	iw.i(m.baseLastAt)
}

// saveIndex writes the index for the current state; without IndexPath it
// does nothing.
func (mb *Mailbox) saveIndex() error {
	if mb.opts.IndexPath == "" {
		return nil
	}
	dir := filepath.Dir(mb.opts.IndexPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create index dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(mb.opts.IndexPath)+".tmp*")
	if err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	defer os.Remove(tmp.Name())
	crc := crc32.NewIEEE()
	iw := &indexWriter{w: bufio.NewWriterSize(io.MultiWriter(tmp, crc), 256<<10)}
	iw.w.WriteString(indexMagic)
	iw.i(mb.st.size)
	iw.i(mb.st.mtime)
	iw.u(mb.st.ino)
	iw.u(mb.st.dev)
	iw.u(uint64(mb.uidValidity))
	iw.u(uint64(mb.nextUID))
	iw.u(uint64(mb.firstRecentUID))
	iw.b(mb.baseRewrite)
	iw.u(uint64(len(mb.keywords)))
	for _, k := range mb.keywords {
		iw.s(k)
	}
	all := mb.ordered()
	iw.u(uint64(mb.lastCRC()))
	iw.u(uint64(len(all)))
	for _, m := range all {
		iw.msg(m)
	}
	if err := iw.w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write index: %w", err)
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	if _, err := tmp.Write(sum[:]); err != nil {
		tmp.Close()
		return fmt.Errorf("write index: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := os.Rename(tmp.Name(), mb.opts.IndexPath); err != nil {
		return fmt.Errorf("rename index: %w", err)
	}
	return nil
}

// indexReader decodes the index from memory; strings are slices of one
// string copy of the whole index, so loading allocates little.
type indexReader struct {
	b   []byte
	str string
	pos int
	err error
}

// newIndexReader reads b, which the caller never modifies afterwards:
// strings are taken from it without a copy.
func newIndexReader(b []byte) *indexReader {
	return &indexReader{b: b, str: unsafe.String(unsafe.SliceData(b), len(b))}
}

func (ir *indexReader) u() uint64 {
	if ir.pos < len(ir.b) && ir.b[ir.pos] < 0x80 {
		// Most values (flags, lengths, booleans) take one byte.
		v := ir.b[ir.pos]
		ir.pos++
		return uint64(v)
	}
	v, n := binary.Uvarint(ir.b[ir.pos:])
	if n <= 0 {
		if ir.err == nil {
			ir.err = errors.New("index: truncated")
		}
		return 0
	}
	ir.pos += n
	return v
}
func (ir *indexReader) i() int64 {
	if ir.pos < len(ir.b) && ir.b[ir.pos] < 0x80 {
		v := int64(ir.b[ir.pos])
		ir.pos++
		return v>>1 ^ -(v & 1) // zig-zag, as binary.Varint
	}
	v, n := binary.Varint(ir.b[ir.pos:])
	if n <= 0 {
		if ir.err == nil {
			ir.err = errors.New("index: truncated")
		}
		return 0
	}
	ir.pos += n
	return v
}
func (ir *indexReader) s() string {
	n := ir.u()
	if n > uint64(len(ir.b)-ir.pos) {
		ir.err = errors.New("index: string too long")
		return ""
	}
	v := ir.str[ir.pos : ir.pos+int(n)]
	ir.pos += int(n)
	return v
}
func (ir *indexReader) b1() bool { return ir.u() != 0 }
func (ir *indexReader) ints(max int) []int {
	n := ir.u()
	if n > 1<<16 {
		ir.err = errors.New("index: list too long")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]int, n)
	for k := range out {
		out[k] = int(ir.u())
		if out[k] >= max {
			ir.err = errors.New("index: keyword out of range")
		}
	}
	return out
}

// loadIndex fills the state from the index if it describes the file as it
// is now.
func (mb *Mailbox) loadIndex(st fileID) bool {
	ok, _ := mb.loadIndexGrown(st, false)
	return ok
}

// lastCRC checksums the last message's From_ line and header, to tell
// later whether the file only grew after it.
func (mb *Mailbox) lastCRC() uint32 {
	all := mb.ordered()
	if len(all) == 0 {
		return 0
	}
	m := all[len(all)-1]
	b := make([]byte, m.bodyOff-m.fromOff)
	if _, err := mb.f.ReadAt(b, m.fromOff); err != nil && len(b) > 0 {
		return 0
	}
	return crc32.ChecksumIEEE(b)
}

// loadIndexGrown loads the index; with grown allowed it also accepts a
// file that only grew at the end since (same inode, larger, last indexed
// message still in place) and reports that the tail must be parsed.
func (mb *Mailbox) loadIndexGrown(st fileID, allowGrowth bool) (ok, grown bool) {
	if mb.opts.IndexPath == "" {
		return false, false
	}
	data, err := os.ReadFile(mb.opts.IndexPath)
	if err != nil || len(data) < len(indexMagic)+4 {
		return false, false
	}
	body, sum := data[:len(data)-4], data[len(data)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) || string(body[:len(indexMagic)]) != indexMagic {
		return false, false
	}
	ir := newIndexReader(body[len(indexMagic):])
	got := fileID{size: ir.i(), mtime: ir.i(), ino: ir.u(), dev: ir.u()}
	if ir.err != nil {
		return false, false
	}
	if got != st {
		if !allowGrowth || got.ino != st.ino || got.dev != st.dev || got.size >= st.size || got.size == 0 {
			return false, false
		}
		grown = true
	}
	uv, next, fr := uint32(ir.u()), uint32(ir.u()), uint32(ir.u())
	baseRewrite := ir.b1()
	nk := ir.u()
	if nk > 1<<16 {
		return false, false
	}
	kws := make([]string, nk)
	for k := range kws {
		kws[k] = ir.s()
	}
	wantCRC := uint32(ir.u())
	n := ir.u()
	if ir.err != nil || n > uint64(st.size)+1 || (grown && n == 0) {
		return false, false
	}
	msgs := make([]*msg, 0, n)
	slab := make([]msg, n)
	var pseudo *msg
	var prevEnd, prevDate int64
	for k := range n {
		m := &slab[k]
		m.uid = uint32(ir.u())
		m.flags = Flag(ir.u())
		m.hdrFlags = Flag(ir.u())
		m.kw = ir.ints(len(kws))
		m.hdrKw = ir.ints(len(kws))
		m.fromOff = prevEnd + ir.i()
		m.hdrOff = m.fromOff + ir.i()
		m.bodyOff = m.hdrOff + ir.i()
		m.end = m.bodyOff + ir.i()
		prevEnd = m.end
		m.haveEOH = ir.b1()
		m.date = prevDate + ir.i()
		prevDate = m.date
		m.sender = ir.s()
		sizeHdr := ir.i()
		m.bodyVis = ir.i()
		m.size = m.bodyVis + sizeHdr
		m.dirty = ir.b1()
		m.recent = ir.b1()
		m.pseudo = ir.b1()
		m.baseOK = ir.b1()
		m.baseLast = uint32(ir.u())
		m.baseLastAt = ir.i()
		if ir.err != nil {
			return false, false
		}
		if m.pseudo {
			pseudo = m
		} else {
			msgs = append(msgs, m)
		}
	}
	if ir.err != nil {
		return false, false
	}
	mb.uidValidity, mb.nextUID, mb.firstRecentUID = uv, next, fr
	mb.baseRewrite = baseRewrite
	mb.keywords = kws
	mb.kwIndex = make(map[string]int, len(kws))
	for k, w := range kws {
		mb.kwIndex[w] = k
	}
	mb.msgs, mb.pseudo = msgs, pseudo
	// \Recent follows firstRecentUID, which may have moved since.
	for _, m := range mb.msgs {
		m.recent = m.recent && m.uid >= mb.firstRecentUID
	}
	if grown && mb.lastCRC() != wantCRC {
		return false, false
	}
	return true, grown
}

type indexHead struct {
	uidValidity, firstRecent uint32
	keywords                 []string
}

// indexHeader reads UIDVALIDITY, the first recent UID and the keyword list
// from the index even when the index no longer matches the file.
func (mb *Mailbox) indexHeader() (indexHead, bool) {
	var h indexHead
	if mb.opts.IndexPath == "" {
		return h, false
	}
	f, err := os.Open(mb.opts.IndexPath)
	if err != nil {
		return h, false
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if !bytes.HasPrefix(head, []byte(indexMagic)) {
		return h, false
	}
	ir := newIndexReader(head[len(indexMagic):])
	ir.i()
	ir.i()
	ir.u()
	ir.u()
	h.uidValidity = uint32(ir.u())
	ir.u()
	h.firstRecent = uint32(ir.u())
	ir.b1()
	nk := ir.u()
	if nk > 1<<16 {
		return h, false
	}
	for range nk {
		h.keywords = append(h.keywords, ir.s())
	}
	return h, ir.err == nil
}
