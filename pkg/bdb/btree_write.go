// SPDX-License-Identifier: MIT

package bdb

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// The btree writer replays what Berkeley DB 5.3 does when a program puts
// records in key order into a new btree without a log (db_load of sorted
// input): every record is appended to the rightmost leaf, and a full page
// splits by moving only its last item (or last duplicate set) to a new
// right sibling, so pages end up nearly full. A split that has no room in
// the parent splits the parent first; the root keeps page 1 and its
// contents move to two new pages. Separator keys above leaves are cut to
// the shortest prefix that still sorts after the left page's last key.
// Duplicate sets that grow past a quarter of a page move to an off-page
// recno tree, as with DB_DUP. Pages are numbered in the order BDB
// allocates them, so a file written here lists the same pages as
// `db5.3_dump -da` of the file db5.3_load makes from the same sorted
// input (testdata/btree/FORMAT.md).

// btwItem is a leaf item being laid out.
type btwItem struct {
	typ  byte   // hKeyData, hOffPage (B_OVERFLOW) or hDuplicate
	data []byte // hKeyData
	pgno uint32 // hOffPage, hDuplicate
	tlen uint32 // hOffPage
}

// size is the item's size on the page without its index entry
// (BKEYDATA_SIZE or BOVERFLOW_SIZE).
func (it *btwItem) size() int {
	if it.typ == hKeyData {
		return align4(len(it.data) + 3)
	}
	return 12
}

func align4(n int) int { return (n + 3) &^ 3 }

// btwPair is a key/data pair of a btree leaf. shared marks an on-page
// duplicate whose key index points at the previous pair's key item.
type btwPair struct {
	key, data btwItem
	shared    bool
	keyID     int // equal for pairs that share a key item
}

// btwEnt is an entry of a btree internal page. The first entry of every
// internal page has an empty key; full keeps the key it had before, which
// is the one a split pushes up.
type btwEnt struct {
	key, full btwItem
	child     uint32
}

// binternalSize is BINTERNAL_SIZE: 12 header bytes and the key (an
// overflow key is a 12-byte BOVERFLOW), aligned.
func (e *btwEnt) size() int {
	if e.key.typ == hKeyData {
		return align4(12 + len(e.key.data))
	}
	return 24
}

type btwPage struct {
	pgno, prev, next uint32
	typ, level       byte
	pairs            []btwPair // pLBTree
	ents             []btwEnt  // pIBTree
	items            []btwItem // pLRecno
	kids             []uint32  // pIRecno
	ovf              []byte    // pOverflow
	used             int       // bytes of items and index entries
}

// btwTree is the rightmost path of a tree being built: path[0] is the
// rightmost leaf, the last element the root.
type btwTree struct {
	path []*btwPage
}

type btreeWriter struct {
	ps, hdr, ovfl int
	pages         []*btwPage // by page number; 0 is the meta page
	main          btwTree
	nextKeyID     int
}

// btOvflSize is B_MINKEY_TO_OVFLSIZE for the default minkey of 2: a key or
// data item longer than this goes to overflow pages (1007 at 4096-byte
// pages, 111 at 512).
func btOvflSize(pageSize, hdr int) int {
	return (pageSize-hdr)/(2*2) - (align4(3) + 2 + align4(1))
}

func (w *btreeWriter) free(pg *btwPage) int { return w.ps - w.hdr - pg.used }

func (w *btreeWriter) alloc(typ, level byte) *btwPage {
	pg := &btwPage{pgno: uint32(len(w.pages)), typ: typ, level: level}
	w.pages = append(w.pages, pg)
	return pg
}

// psize is the room an item of n bytes takes with its index entry
// (BKEYDATA_PSIZE, or BOVERFLOW_PSIZE for an item that goes off page).
func (w *btreeWriter) psize(n int) int {
	if n > w.ovfl {
		return 14
	}
	return align4(n+3) + 2
}

// item makes the leaf item for b, writing it to overflow pages when it is
// too long to stay on the page.
func (w *btreeWriter) item(b []byte) btwItem {
	if len(b) <= w.ovfl {
		return btwItem{typ: hKeyData, data: b}
	}
	return btwItem{typ: hOffPage, pgno: w.overflow(b), tlen: uint32(len(b))}
}

// overflow writes b to a new chain of overflow pages and returns its
// first page.
func (w *btreeWriter) overflow(b []byte) uint32 {
	chunk := w.ps - w.hdr
	var first, prev *btwPage
	for len(b) > 0 || first == nil {
		n := min(chunk, len(b))
		pg := w.alloc(pOverflow, 0)
		pg.ovf = b[:n]
		b = b[n:]
		if first == nil {
			first = pg
		} else {
			prev.next, pg.prev = pg.pgno, prev.pgno
		}
		prev = pg
	}
	return first.pgno
}

// bytesOf returns the bytes of a key item, reading back an overflow
// chain being built.
func (w *btreeWriter) bytesOf(it btwItem) []byte {
	if it.typ == hKeyData {
		return it.data
	}
	var out []byte
	for p := it.pgno; p != 0; p = w.pages[p].next {
		out = append(out, w.pages[p].ovf...)
	}
	return out
}

// recount recomputes the bytes a page uses.
func (w *btreeWriter) recount(pg *btwPage) {
	u := 0
	switch pg.typ {
	case pLBTree:
		for i := range pg.pairs {
			if !pg.pairs[i].shared {
				u += pg.pairs[i].key.size()
			}
			u += pg.pairs[i].data.size() + 4
		}
	case pIBTree:
		for i := range pg.ents {
			u += pg.ents[i].size() + 2
		}
	case pLRecno:
		for i := range pg.items {
			u += pg.items[i].size() + 2
		}
	case pIRecno:
		u = 10 * len(pg.kids)
	}
	pg.used = u
}

// btPrefix is BDB's default prefix function: the length of the shortest
// prefix of b that sorts after a (a < b).
func btPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i + 1
		}
	}
	if len(a) < len(b) {
		return len(a) + 1
	}
	return len(b)
}

// splitPoint chooses where a full rightmost page splits: before its last
// item, moved back past overflow keys (up to three places) and to the start
// of a duplicate set, as __bam_psplit does for appends.
func splitPoint(pg *btwPage) int {
	switch pg.typ {
	case pLBTree:
		n := len(pg.pairs)
		sp := n - 1
		if pg.pairs[sp].key.typ != hKeyData {
			for cnt := 1; cnt <= 3; cnt++ {
				if sp <= cnt {
					continue
				}
				if off := sp - cnt; pg.pairs[off].key.typ == hKeyData {
					sp = off
					break
				}
			}
		}
		if sp > 0 && pg.pairs[sp].keyID == pg.pairs[sp-1].keyID {
			for cnt := 1; cnt <= n; cnt++ {
				if off := sp + cnt; off < n && pg.pairs[off].keyID != pg.pairs[sp].keyID {
					sp = off
					break
				}
				if sp <= cnt {
					continue
				}
				if off := sp - cnt; pg.pairs[off].keyID != pg.pairs[sp].keyID {
					sp = off + 1
					break
				}
			}
		}
		if sp <= 0 || sp >= n { // one duplicate set fills the page
			sp = n - 1
		}
		return sp
	case pIBTree:
		sp := len(pg.ents) - 1
		if pg.ents[sp].key.typ != hKeyData {
			for cnt := 1; cnt <= 3; cnt++ {
				if sp <= cnt {
					continue
				}
				if off := sp - cnt; pg.ents[off].key.typ == hKeyData {
					sp = off
					break
				}
			}
		}
		return sp
	case pLRecno:
		return len(pg.items) - 1
	}
	return len(pg.kids) - 1
}

// moveRight moves the entries of pg from sp on to the empty page rp.
func (w *btreeWriter) moveRight(pg, rp *btwPage, sp int) {
	switch pg.typ {
	case pLBTree:
		rp.pairs = append(rp.pairs, pg.pairs[sp:]...)
		pg.pairs = pg.pairs[:sp:sp]
		rp.pairs[0].shared = false
	case pIBTree:
		rp.ents = append(rp.ents, pg.ents[sp:]...)
		pg.ents = pg.ents[:sp:sp]
		rp.ents[0].key = btwItem{typ: hKeyData}
	case pLRecno:
		rp.items = append(rp.items, pg.items[sp:]...)
		pg.items = pg.items[:sp:sp]
	case pIRecno:
		rp.kids = append(rp.kids, pg.kids[sp:]...)
		pg.kids = pg.kids[:sp:sp]
	}
	w.recount(pg)
	w.recount(rp)
}

// split splits the page at level l of tree t, which has no room for the
// next item, so that the rightmost page at that level has room again.
func (w *btreeWriter) split(t *btwTree, l int) {
	pg := t.path[l]
	isRoot := l == len(t.path)-1
	sp := splitPoint(pg)
	isLeaf := pg.typ == pLBTree || pg.typ == pLRecno

	// The separator the parent gets for the new right page.
	var sep btwItem
	copyOverflow := false
	switch pg.typ {
	case pLBTree:
		sep = pg.pairs[sp].key
		if sep.typ != hKeyData {
			copyOverflow = true
		} else if left := pg.pairs[sp-1].key; !isRoot && left.typ == hKeyData {
			n := btPrefix(left.data, sep.data)
			if align4(12+n) < align4(12+len(sep.data)) {
				sep.data = sep.data[:n:n]
			}
		}
	case pIBTree:
		sep = pg.ents[sp].full
	}
	sepSize := 10 // RINTERNAL_PSIZE
	if pg.typ == pLBTree || pg.typ == pIBTree {
		e := btwEnt{key: sep}
		sepSize = e.size() + 2
	}

	if isRoot {
		lp := w.alloc(pg.typ, pg.level)
		rp := w.alloc(pg.typ, pg.level)
		lp.pairs, lp.ents, lp.items, lp.kids = pg.pairs, pg.ents, pg.items, pg.kids
		w.moveRight(lp, rp, sp)
		if isLeaf {
			lp.next, rp.prev = rp.pgno, lp.pgno
		}
		if copyOverflow {
			sep = btwItem{typ: hOffPage, pgno: w.overflow(w.bytesOf(sep)), tlen: sep.tlen}
		}
		pg.pairs, pg.items = nil, nil
		pg.level++
		if pg.typ == pLBTree || pg.typ == pIBTree {
			pg.typ = pIBTree
			pg.ents = []btwEnt{{key: btwItem{typ: hKeyData}, child: lp.pgno}, {key: sep, full: sep, child: rp.pgno}}
			pg.kids = nil
		} else {
			pg.typ = pIRecno
			pg.kids = []uint32{lp.pgno, rp.pgno}
			pg.ents = nil
		}
		w.recount(pg)
		t.path[l] = rp
		t.path = append(t.path, pg)
		return
	}
	if w.free(t.path[l+1]) < sepSize {
		w.split(t, l+1)
	}
	parent := t.path[l+1]
	rp := w.alloc(pg.typ, pg.level)
	w.moveRight(pg, rp, sp)
	if isLeaf {
		rp.prev, rp.next = pg.pgno, pg.next
		pg.next = rp.pgno
	}
	if copyOverflow {
		sep = btwItem{typ: hOffPage, pgno: w.overflow(w.bytesOf(sep)), tlen: sep.tlen}
	}
	if parent.typ == pIBTree {
		parent.ents = append(parent.ents, btwEnt{key: sep, full: sep, child: rp.pgno})
	} else {
		parent.kids = append(parent.kids, rp.pgno)
	}
	w.recount(parent)
	t.path[l] = rp
}

// put appends a record whose key sorts after (or, for a duplicate,
// equals) every key put before. dupTree is the off-page duplicate tree of
// the current key, if it has one.
func (w *btreeWriter) put(key, val []byte, dup bool, dupTree **btwTree) {
	if dup && *dupTree != nil {
		t := *dupTree
		needed := 2 + w.psize(len(val))
		if w.free(t.path[0]) < needed {
			w.split(t, 0)
		}
		leaf := t.path[0]
		leaf.items = append(leaf.items, w.item(val))
		leaf.used += leaf.items[len(leaf.items)-1].size() + 2
		return
	}
	t := &w.main
	var needed int
	if dup {
		needed = 2 + w.psize(len(val))
	} else {
		needed = w.psize(len(key)) + w.psize(len(val))
	}
	if w.free(t.path[0]) < needed {
		w.split(t, 0)
	}
	leaf := t.path[0]
	if !dup {
		k := w.item(key)
		w.nextKeyID++
		leaf.pairs = append(leaf.pairs, btwPair{key: k, data: w.item(val), keyID: w.nextKeyID})
		leaf.used += needed // both items and their index entries
		*dupTree = nil
		return
	}
	// Another value of the key of the last pair: an on-page duplicate,
	// unless the set then fills a quarter of a page at least half full
	// (__bam_dup_check), which moves it to its own recno tree.
	first := len(leaf.pairs) - 1
	for first > 0 && leaf.pairs[first].shared {
		first--
	}
	convert := false
	if w.free(leaf)-needed <= w.ps/2 {
		sz := needed
		if k := leaf.pairs[first].key; k.typ == hKeyData {
			sz += k.size() + 2
		} else {
			sz += 14
		}
		for i := first; i < len(leaf.pairs); i++ {
			sz += leaf.pairs[i].data.size() + 2
		}
		convert = sz >= w.ps/4
	}
	last := leaf.pairs[len(leaf.pairs)-1]
	leaf.pairs = append(leaf.pairs, btwPair{key: last.key, data: w.item(val), shared: true, keyID: last.keyID})
	if !convert {
		leaf.used += needed // the data item and two index entries
		return
	}
	dp := w.alloc(pLRecno, 1)
	for i := first; i < len(leaf.pairs); i++ {
		dp.items = append(dp.items, leaf.pairs[i].data)
	}
	leaf.pairs[first].data = btwItem{typ: hDuplicate, pgno: dp.pgno}
	leaf.pairs = leaf.pairs[:first+1]
	w.recount(leaf)
	w.recount(dp)
	*dupTree = &btwTree{path: []*btwPage{dp}}
}

// writeBTree writes recs as a btree file.
func writeBTree(out io.Writer, recs []record, opts WriterOptions) (int64, error) {
	ps := opts.PageSize
	if ps == 0 {
		ps = 4096
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return 0, fmt.Errorf("page size %d is not a power of two from 512 to 65536", ps)
	}
	w := &btreeWriter{ps: ps, hdr: pageHdrSize}
	w.ovfl = btOvflSize(ps, w.hdr)
	w.pages = []*btwPage{nil, {pgno: 1, typ: pLBTree, level: 1}}
	w.main.path = []*btwPage{w.pages[1]}

	sorted := make([]int, len(recs))
	for i := range sorted {
		sorted[i] = i
	}
	// Equal keys keep their put order, so duplicates stay in order.
	slices.SortFunc(sorted, func(i, j int) int {
		if c := bytes.Compare(recs[i].key, recs[j].key); c != 0 {
			return c
		}
		return i - j
	})
	var dupTree *btwTree
	var prev []byte
	for n, i := range sorted {
		r := recs[i]
		dup := n > 0 && bytes.Equal(r.key, prev)
		if dup && !opts.Duplicates {
			return 0, fmt.Errorf("key %q put twice: %w", r.key, ErrKeyExists)
		}
		w.put(r.key, r.val, dup, &dupTree)
		prev = r.key
	}
	return w.emit(out, opts)
}

// recnoCount returns the number of records below a recno tree page.
func (w *btreeWriter) recnoCount(pgno uint32) uint32 {
	pg := w.pages[pgno]
	if pg.typ == pLRecno {
		return uint32(len(pg.items))
	}
	var n uint32
	for _, k := range pg.kids {
		n += w.recnoCount(k)
	}
	return n
}

// emit serialises the pages.
func (w *btreeWriter) emit(out io.Writer, opts WriterOptions) (int64, error) {
	var order binary.ByteOrder = binary.LittleEndian
	if opts.BigEndian {
		order = binary.BigEndian
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	buf := make([]byte, w.ps)
	var total int64
	write := func() error {
		n, err := bw.Write(buf)
		total += int64(n)
		return err
	}

	// Meta page (BTMETA).
	order.PutUint32(buf[4:], 1) // LSN {0, 1}: not logged
	order.PutUint32(buf[12:], magicBTree)
	order.PutUint32(buf[16:], 9)
	order.PutUint32(buf[20:], uint32(w.ps))
	buf[offType] = btMetaType
	order.PutUint32(buf[btOffLastPgno:], uint32(len(w.pages)-1))
	if opts.Duplicates {
		order.PutUint32(buf[btOffFlags:], btmDup)
	}
	if _, err := rand.Read(buf[52:72]); err != nil {
		return 0, fmt.Errorf("file id: %w", err)
	}
	order.PutUint32(buf[btOffMinkey:], 2)
	order.PutUint32(buf[btOffRePad:], ' ')
	order.PutUint32(buf[btOffRoot:], 1)
	if err := write(); err != nil {
		return total, err
	}

	// recnoRoot marks the roots of off-page duplicate trees, whose
	// prev_pgno holds the tree's record count (RE_NREC).
	recnoRoot := map[uint32]bool{}
	for _, pg := range w.pages[1:] {
		if pg.typ == pLBTree {
			for _, pr := range pg.pairs {
				if pr.data.typ == hDuplicate {
					recnoRoot[pr.data.pgno] = true
				}
			}
		}
	}
	for _, pg := range w.pages[1:] {
		clear(buf)
		order.PutUint32(buf[4:], 1)
		order.PutUint32(buf[offPgno:], pg.pgno)
		order.PutUint32(buf[offPrevPgno:], pg.prev)
		order.PutUint32(buf[offNextPgno:], pg.next)
		buf[offLevel] = pg.level
		buf[offType] = pg.typ
		inp := w.hdr
		top := w.ps
		putIdx := func(off int) {
			order.PutUint16(buf[inp:], uint16(off))
			inp += 2
		}
		putItem := func(it btwItem) int {
			top -= it.size()
			switch it.typ {
			case hKeyData:
				order.PutUint16(buf[top:], uint16(len(it.data)))
				buf[top+2] = hKeyData
				copy(buf[top+3:], it.data)
			default:
				buf[top+2] = it.typ
				order.PutUint32(buf[top+4:], it.pgno)
				order.PutUint32(buf[top+8:], it.tlen)
			}
			return top
		}
		var nent int
		switch pg.typ {
		case pLBTree:
			keyOff := 0
			for _, pr := range pg.pairs {
				if !pr.shared {
					keyOff = putItem(pr.key)
				}
				putIdx(keyOff)
				putIdx(putItem(pr.data))
			}
			nent = 2 * len(pg.pairs)
		case pIBTree:
			for _, e := range pg.ents {
				top -= e.size()
				if e.key.typ == hKeyData {
					order.PutUint16(buf[top:], uint16(len(e.key.data)))
					buf[top+2] = hKeyData
					copy(buf[top+12:], e.key.data)
				} else {
					order.PutUint16(buf[top:], 12)
					buf[top+2] = hOffPage
					buf[top+12+2] = hOffPage
					order.PutUint32(buf[top+12+4:], e.key.pgno)
					order.PutUint32(buf[top+12+8:], e.key.tlen)
				}
				order.PutUint32(buf[top+4:], e.child)
				putIdx(top)
			}
			nent = len(pg.ents)
		case pLRecno:
			for _, it := range pg.items {
				putIdx(putItem(it))
			}
			nent = len(pg.items)
		case pIRecno:
			for _, k := range pg.kids {
				top -= 8
				order.PutUint32(buf[top:], k)
				order.PutUint32(buf[top+4:], w.recnoCount(k))
				putIdx(top)
			}
			nent = len(pg.kids)
			if recnoRoot[pg.pgno] {
				order.PutUint32(buf[offPrevPgno:], w.recnoCount(pg.pgno))
			}
		case pOverflow:
			copy(buf[w.hdr:], pg.ovf)
			nent = 1 // reference count
			top = len(pg.ovf)
		}
		order.PutUint16(buf[offEntries:], uint16(nent))
		order.PutUint16(buf[offHfOffset:], uint16(top))
		if err := write(); err != nil {
			return total, err
		}
	}
	if err := bw.Flush(); err != nil {
		return total, err
	}
	return total, nil
}
