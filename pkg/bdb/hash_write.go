// SPDX-License-Identifier: MIT

package bdb

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// The writer lays a hash file out the way BDB would after inserting the
// records into a table created with all its buckets: page 0 is the meta
// page, bucket b is page b+1, and chain, overflow and duplicate-tree
// pages follow in bucket order. It makes three passes over the buckets
// with identical layout decisions: one to count the pages (the meta page
// needs last_pgno), one to write the bucket pages and one to write the
// pages that follow them, so only one page is held in memory at a time.

// hashFill is the share of a bucket page the average bucket fills: low
// enough that few buckets need a chain page (lookups touch one page), high
// enough that the file stays compact.
const hashFill = 0.75

// cmpHashKey is the order of keys on a BDB 5.3 sorted hash page
// (__ham_getindex_sorted): bytewise over the common prefix, and when one
// key is a prefix of the other, the longer key first. A page in plain
// bytewise order is accepted by db_verify but the binary search of a
// real lookup misses keys.
func cmpHashKey(a, b []byte) int {
	n := min(len(a), len(b))
	if c := bytes.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return cmp.Compare(len(b), len(a))
}

// hpair is one key and its values as laid out in a bucket.
type hpair struct {
	key   []byte
	vals  []int32 // indexes into recs, in insertion order
	ksz   int     // key item size on the page
	dsz   int     // data item size on the page
	dkind byte    // hKeyData, hOffPage, hDuplicate or hOffDup
	kpg   uint32  // first overflow page of an off-page key
	dpg   uint32  // first overflow page of the value, or dup tree root
	tpg   uint32  // first page of the dup tree
	page  int     // index of the chain page holding the pair
}

// hashWriter holds the state of one writeHash call.
type hashWriter struct {
	recs  []record
	ps    int
	o     binary.ByteOrder
	dupOK bool
	big   int // items longer than this go to overflow pages
	ovfl  int // the off-page duplicate tree's overflow threshold

	w   *bufio.Writer
	n   int64
	err error
	buf []byte // the page being built

	pairs []hpair
	chain []uint32 // page numbers of the chain pages of the bucket
}

func writeHash(out io.Writer, recs []record, opts WriterOptions) (int64, error) {
	ps := opts.PageSize
	if ps == 0 {
		ps = 4096
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return 0, fmt.Errorf("page size %d is not a power of two from 512 to 65536", ps)
	}
	if int64(len(recs)) > 1<<31-1 {
		return 0, fmt.Errorf("%d records are too many for one file", len(recs))
	}
	hw := &hashWriter{
		recs:  recs,
		ps:    ps,
		o:     binary.LittleEndian,
		dupOK: opts.Duplicates,
		big:   ps / 4,
		// B_MINKEY_TO_OVFLSIZE with minkey 2, as a duplicate cursor uses.
		ovfl: (ps-pageHdrSize)/4 - 10,
		buf:  make([]byte, ps),
	}
	if opts.BigEndian {
		hw.o = binary.BigEndian
	}

	// Estimate the bytes the pairs take on bucket pages and pick the
	// smallest power-of-two bucket count (at least 2, as BDB creates)
	// that leaves the average bucket page hashFill full.
	hashes := make([]uint32, len(recs))
	var load float64
	for i := range recs {
		hashes[i] = hashFunc(recs[i].key)
		load += float64(hw.itemSize(len(recs[i].key)) + hw.itemSize(len(recs[i].val)) + 4)
	}
	nb := uint32(2)
	for float64(nb)*hashFill*float64(ps-pageHdrSize) < load && nb < 1<<31 {
		nb *= 2
	}

	// Counting sort by bucket, then each bucket in page order; the sort
	// is stable on insertion order so duplicates keep theirs.
	start := make([]int32, nb+1)
	for _, h := range hashes {
		start[h&(nb-1)+1]++
	}
	for b := uint32(1); b <= nb; b++ {
		start[b] += start[b-1]
	}
	order := make([]int32, len(recs))
	fill := slices.Clone(start[:nb])
	for i, h := range hashes {
		b := h & (nb - 1)
		order[fill[b]] = int32(i)
		fill[b]++
	}
	hashes, fill = nil, nil
	for b := uint32(0); b < nb; b++ {
		seg := order[start[b]:start[b+1]]
		slices.SortFunc(seg, func(x, y int32) int {
			if c := cmpHashKey(recs[x].key, recs[y].key); c != 0 {
				return c
			}
			return cmp.Compare(x, y)
		})
	}

	// Pass 1: count pages. Passes 2 and 3: write.
	next := nb + 1
	anyDup := false
	for b := uint32(0); b < nb; b++ {
		if err := hw.plan(order[start[b]:start[b+1]], &next); err != nil {
			return 0, err
		}
		for i := range hw.pairs {
			anyDup = anyDup || len(hw.pairs[i].vals) > 1
		}
	}
	last := next - 1
	hw.w = bufio.NewWriterSize(out, 64<<10)
	if err := hw.meta(nb, last, uint32(len(recs)), opts.Duplicates || anyDup); err != nil {
		return 0, err
	}
	next = nb + 1
	for b := uint32(0); b < nb; b++ {
		hw.plan(order[start[b]:start[b+1]], &next)
		hw.bucketPage(b + 1)
	}
	next = nb + 1
	for b := uint32(0); b < nb; b++ {
		hw.plan(order[start[b]:start[b+1]], &next)
		hw.extraPages(b + 1)
	}
	if hw.err == nil {
		hw.err = hw.w.Flush()
	}
	if hw.err == nil && hw.n != int64(last+1)*int64(ps) {
		hw.err = fmt.Errorf("bdb: wrote %d bytes, planned %d pages", hw.n, last+1)
	}
	return hw.n, hw.err
}

// itemSize is the size on a hash page of a key or single value of n bytes.
func (hw *hashWriter) itemSize(n int) int {
	if n > hw.big {
		return 12
	}
	return 1 + n
}

// ovPages is the number of overflow pages an item of n bytes takes.
func (hw *hashWriter) ovPages(n int) uint32 {
	c := hw.ps - pageHdrSize
	return uint32((n + c - 1) / c)
}

// plan groups the sorted records of one bucket into pairs, splits them
// over the bucket page and its chain, and numbers every page the bucket
// needs beyond its own from *next on.
func (hw *hashWriter) plan(seg []int32, next *uint32) error {
	hw.pairs = hw.pairs[:0]
	for i := 0; i < len(seg); {
		j := i + 1
		if hw.dupOK {
			for j < len(seg) && string(hw.recs[seg[j]].key) == string(hw.recs[seg[i]].key) {
				j++
			}
		}
		hw.pairs = append(hw.pairs, hpair{key: hw.recs[seg[i]].key, vals: seg[i:j]})
		i = j
	}
	room := hw.ps - pageHdrSize
	used, page := 0, 0
	for i := range hw.pairs {
		p := &hw.pairs[i]
		p.ksz = hw.itemSize(len(p.key))
		if len(p.vals) == 1 {
			v := hw.recs[p.vals[0]].val
			p.dsz, p.dkind = hw.itemSize(len(v)), hKeyData
			if len(v) > hw.big {
				p.dkind = hOffPage
			}
		} else {
			// On page while the set, counted as BDB does (each value
			// with its two length fields), is at most a quarter page.
			tot := 0
			for _, r := range p.vals {
				tot += len(hw.recs[r].val) + 4
				if tot > hw.big {
					break
				}
			}
			if tot <= hw.big {
				p.dsz, p.dkind = 1+tot, hDuplicate
			} else {
				p.dsz, p.dkind = 8, hOffDup
			}
		}
		need := p.ksz + p.dsz + 4
		if used+need > room {
			page++
			used = 0
		}
		used += need
		p.page = page
	}
	hw.chain = hw.chain[:0]
	for j := 0; j < page; j++ {
		hw.chain = append(hw.chain, *next)
		*next++
	}
	for i := range hw.pairs {
		p := &hw.pairs[i]
		if len(p.key) > hw.big {
			p.kpg = *next
			*next += hw.ovPages(len(p.key))
		}
		switch p.dkind {
		case hOffPage:
			p.dpg = *next
			*next += hw.ovPages(len(hw.recs[p.vals[0]].val))
		case hOffDup:
			p.tpg = *next
			p.dpg = hw.dupTree(p.vals, next, false)
		}
		if *next > 1<<31 {
			return fmt.Errorf("database would exceed %d pages", uint32(1<<31))
		}
	}
	return nil
}

// meta writes page 0.
func (hw *hashWriter) meta(nb, last, nrec uint32, dup bool) error {
	pg := hw.clear()
	o := hw.o
	o.PutUint32(pg[4:], 1) // LSN 0/1: not logged
	o.PutUint32(pg[12:], magicHash)
	o.PutUint32(pg[hmVersion:], 9)
	o.PutUint32(pg[hmPageSize:], uint32(hw.ps))
	pg[hmType] = pHashMeta
	o.PutUint32(pg[hmLastPgno:], last)
	if dup {
		o.PutUint32(pg[hmFlags:], hashFlagDup)
	}
	if _, err := rand.Read(pg[hmUID : hmUID+20]); err != nil {
		return fmt.Errorf("file id: %w", err)
	}
	o.PutUint32(pg[hmMaxBucket:], nb-1)
	o.PutUint32(pg[hmHighMask:], nb-1)
	o.PutUint32(pg[hmLowMask:], nb/2-1)
	o.PutUint32(pg[hmNelem:], nrec)
	o.PutUint32(pg[hmCharkey:], hashCharkey)
	for i := 0; 1<<i <= nb; i++ {
		o.PutUint32(pg[hmSpares+4*i:], 1)
	}
	hw.emit()
	return hw.err
}

// clear zeroes the page buffer and returns it.
func (hw *hashWriter) clear() []byte {
	clear(hw.buf)
	return hw.buf
}

// header fills the common page header.
func (hw *hashWriter) header(pg []byte, pgno, prev, next uint32, typ, level byte) {
	hw.o.PutUint32(pg[4:], 1)
	hw.o.PutUint32(pg[offPgno:], pgno)
	hw.o.PutUint32(pg[offPrevPgno:], prev)
	hw.o.PutUint32(pg[offNextPgno:], next)
	hw.o.PutUint16(pg[offHfOffset:], uint16(hw.ps))
	pg[offLevel] = level
	pg[offType] = typ
}

func (hw *hashWriter) emit() {
	if hw.err != nil {
		return
	}
	var n int
	n, hw.err = hw.w.Write(hw.buf)
	hw.n += int64(n)
}

// bucketPage writes the bucket's own page, page pgno.
func (hw *hashWriter) bucketPage(pgno uint32) {
	next := uint32(0)
	if len(hw.chain) > 0 {
		next = hw.chain[0]
	}
	hw.hashPage(0, pgno, 0, next)
}

// extraPages writes the bucket's chain pages, then the overflow and
// duplicate-tree pages of its pairs, in the order plan numbered them.
func (hw *hashWriter) extraPages(bucketPgno uint32) {
	for j, pgno := range hw.chain {
		prev, next := bucketPgno, uint32(0)
		if j > 0 {
			prev = hw.chain[j-1]
		}
		if j+1 < len(hw.chain) {
			next = hw.chain[j+1]
		}
		hw.hashPage(j+1, pgno, prev, next)
	}
	for i := range hw.pairs {
		p := &hw.pairs[i]
		if p.kpg != 0 {
			hw.overflow(p.key, p.kpg)
		}
		switch p.dkind {
		case hOffPage:
			hw.overflow(hw.recs[p.vals[0]].val, p.dpg)
		case hOffDup:
			n := p.tpg
			hw.dupTree(p.vals, &n, true)
		}
	}
}

// hashPage writes chain page j of the bucket as page pgno.
func (hw *hashWriter) hashPage(j int, pgno, prev, next uint32) {
	pg := hw.clear()
	hw.header(pg, pgno, prev, next, pHash, 0)
	o := hw.o
	top, ent := hw.ps, 0
	for i := range hw.pairs {
		p := &hw.pairs[i]
		if p.page != j {
			continue
		}
		top -= p.ksz
		o.PutUint16(pg[pageHdrSize+2*ent:], uint16(top))
		if p.kpg != 0 {
			hw.offPageItem(pg[top:], p.kpg, len(p.key))
		} else {
			pg[top] = hKeyData
			copy(pg[top+1:], p.key)
		}
		top -= p.dsz
		o.PutUint16(pg[pageHdrSize+2*ent+2:], uint16(top))
		d := pg[top : top+p.dsz]
		switch p.dkind {
		case hKeyData:
			d[0] = hKeyData
			copy(d[1:], hw.recs[p.vals[0]].val)
		case hOffPage:
			hw.offPageItem(d, p.dpg, len(hw.recs[p.vals[0]].val))
		case hDuplicate:
			d[0] = hDuplicate
			at := 1
			for _, r := range p.vals {
				v := hw.recs[r].val
				o.PutUint16(d[at:], uint16(len(v)))
				copy(d[at+2:], v)
				o.PutUint16(d[at+2+len(v):], uint16(len(v)))
				at += len(v) + 4
			}
		case hOffDup:
			d[0] = hOffDup
			o.PutUint32(d[4:], p.dpg)
		}
		ent += 2
	}
	o.PutUint16(pg[offEntries:], uint16(ent))
	o.PutUint16(pg[offHfOffset:], uint16(top))
	hw.emit()
}

// offPageItem writes an H_OFFPAGE item: type, 3 pad bytes, pgno, length.
func (hw *hashWriter) offPageItem(d []byte, pgno uint32, n int) {
	d[0] = hOffPage
	hw.o.PutUint32(d[4:], pgno)
	hw.o.PutUint32(d[8:], uint32(n))
}

// overflow writes item v as a chain of overflow pages from page first on.
func (hw *hashWriter) overflow(v []byte, first uint32) {
	c := hw.ps - pageHdrSize
	np := hw.ovPages(len(v))
	for k := uint32(0); k < np; k++ {
		pg := hw.clear()
		prev, next := uint32(0), uint32(0)
		if k > 0 {
			prev = first + k - 1
		}
		if k+1 < np {
			next = first + k + 1
		}
		hw.header(pg, first+k, prev, next, pOverflow, 0)
		chunk := v[int(k)*c : min(len(v), int(k+1)*c)]
		hw.o.PutUint16(pg[offEntries:], 1) // reference count
		hw.o.PutUint16(pg[offHfOffset:], uint16(len(chunk)))
		copy(pg[pageHdrSize:], chunk)
		hw.emit()
	}
}
