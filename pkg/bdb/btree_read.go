// SPDX-License-Identifier: MIT

package bdb

import (
	"bytes"
	"fmt"
)

// Btree meta page (BTMETA) fields beyond the generic 72-byte DBMETA, and
// the btree flags word at offset 48. See testdata/btree/FORMAT.md.
const (
	btMetaType    = 9  // P_BTREEMETA
	btOffLastPgno = 32 // DBMETA last_pgno
	btOffFlags    = 48 // DBMETA flags
	btOffMinkey   = 76
	btOffRePad    = 84
	btOffRoot     = 88

	btmDup     = 0x01 // BTM_DUP: unsorted duplicates allowed
	btmRecno   = 0x02 // BTM_RECNO: a recno database
	btmRecnum  = 0x04 // BTM_RECNUM: record numbers kept in internal pages
	btmFixed   = 0x08 // BTM_FIXEDLEN (recno)
	btmRenum   = 0x10 // BTM_RENUMBER (recno)
	btmSubdb   = 0x20 // BTM_SUBDB: the file holds sub-databases
	btmDupSort = 0x40 // BTM_DUPSORT: sorted duplicates
	btmCompres = 0x80 // BTM_COMPRESS: prefix-compressed leaf pages
)

// btreeReader reads a btree file through a pager. It holds no state that
// changes after open, so it is safe for concurrent use.
type btreeReader struct {
	p    *pager
	root uint32
	last uint32 // highest page number that may be read
	dup  bool
}

// openBTree checks the btree meta page and returns the reader.
func openBTree(p *pager, meta []byte) (accessMethod, error) {
	if v := p.u32(meta, 16); v < 8 || v > 9 {
		return nil, fmt.Errorf("%w: btree version %d", ErrUnsupported, v)
	}
	if meta[offType] != btMetaType {
		return nil, corruptf("btree meta page has type %d", meta[offType])
	}
	flags := p.u32(meta, btOffFlags)
	switch {
	case flags&btmRecno != 0:
		return nil, fmt.Errorf("%w: recno database", ErrUnsupported)
	case flags&btmSubdb != 0:
		return nil, fmt.Errorf("%w: database with sub-databases", ErrUnsupported)
	case flags&btmCompres != 0:
		return nil, fmt.Errorf("%w: compressed btree", ErrUnsupported)
	}
	last := p.u32(meta, btOffLastPgno)
	if p.npages == 0 {
		return nil, corruptf("empty file")
	}
	if last > p.npages-1 {
		last = p.npages - 1
	}
	root := p.u32(meta, btOffRoot)
	if root == 0 {
		root = 1 // files older than the root field kept the root on page 1
	}
	if root > last {
		return nil, corruptf("btree root page %d is past the last page %d", root, last)
	}
	return &btreeReader{p: p, root: root, last: last, dup: flags&(btmDup|btmDupSort) != 0}, nil
}

func (b *btreeReader) duplicates() bool { return b.dup }

// btItem is a decoded leaf item: its type and either its bytes (B_KEYDATA)
// or the page and length it refers to (B_OVERFLOW, B_DUPLICATE).
type btItem struct {
	typ  byte // without the delete bit
	del  bool
	data []byte
	pgno uint32
	tlen uint32
}

// leafItem decodes item i of a leaf page (P_LBTREE, P_LRECNO, P_LDUP).
func (b *btreeReader) leafItem(pg []byte, pgno uint32, n, i int) (btItem, error) {
	p := b.p
	off := int(p.u16(pg, p.hdr+2*i))
	if off < p.hdr+2*n || off+3 > len(pg) {
		return btItem{}, corruptf("item %d of page %d at offset %d overruns the page", i, pgno, off)
	}
	it := btItem{typ: pg[off+2] &^ bDelete, del: pg[off+2]&bDelete != 0}
	switch it.typ {
	case hKeyData:
		l := int(p.u16(pg, off))
		if off+3+l > len(pg) {
			return btItem{}, corruptf("item %d of page %d (%d bytes) overruns the page", i, pgno, l)
		}
		it.data = pg[off+3 : off+3+l : off+3+l]
	case hOffPage, hDuplicate:
		if off+12 > len(pg) {
			return btItem{}, corruptf("item %d of page %d overruns the page", i, pgno)
		}
		it.pgno = p.u32(pg, off+4)
		it.tlen = p.u32(pg, off+8)
	default:
		return btItem{}, corruptf("item %d of page %d has unknown type %d", i, pgno, it.typ)
	}
	return it, nil
}

// bytesOf returns the bytes of a B_KEYDATA or B_OVERFLOW item.
func (b *btreeReader) bytesOf(it btItem) ([]byte, error) {
	switch it.typ {
	case hKeyData:
		return it.data, nil
	case hOffPage:
		return b.p.readOverflow(it.pgno, it.tlen, b.last)
	}
	return nil, corruptf("item of type %d where a key or value was expected", it.typ)
}

// compareItem compares key with a B_KEYDATA or B_OVERFLOW item using BDB's
// default btree order: unsigned bytes, the shorter first on a common
// prefix.
func (b *btreeReader) compareItem(key []byte, it btItem) (int, error) {
	v, err := b.bytesOf(it)
	if err != nil {
		return 0, err
	}
	return bytes.Compare(key, v), nil
}

// internalEntry decodes entry i of a P_IBTREE page: the child page and,
// except for entry 0 whose key is never looked at, the separator key.
func (b *btreeReader) internalEntry(pg []byte, pgno uint32, n, i int) (child uint32, key btItem, err error) {
	p := b.p
	off := int(p.u16(pg, p.hdr+2*i))
	if off < p.hdr+2*n || off+12 > len(pg) {
		return 0, btItem{}, corruptf("entry %d of internal page %d overruns the page", i, pgno)
	}
	child = p.u32(pg, off+4)
	l := int(p.u16(pg, off))
	key.typ = pg[off+2] &^ bDelete
	switch key.typ {
	case hKeyData:
		if off+12+l > len(pg) {
			return 0, btItem{}, corruptf("entry %d of internal page %d overruns the page", i, pgno)
		}
		key.data = pg[off+12 : off+12+l : off+12+l]
	case hOffPage:
		if off+24 > len(pg) {
			return 0, btItem{}, corruptf("entry %d of internal page %d overruns the page", i, pgno)
		}
		key.pgno = p.u32(pg, off+16)
		key.tlen = p.u32(pg, off+20)
	default:
		return 0, btItem{}, corruptf("entry %d of internal page %d has type %d", i, pgno, key.typ)
	}
	return child, key, nil
}

// descend follows the tree from the root to the leaf that holds key (or
// the leftmost leaf when key is nil and leftmost is set). Each step must go
// one level down, so a descent visits at most as many pages as the root's
// level.
func (b *btreeReader) descend(key []byte, leftmost bool) ([]byte, uint32, error) {
	p := b.p
	pgno := b.root
	want := -1 // level the next page must have; -1 for the root
	for steps := 0; ; steps++ {
		if steps > 255 {
			return nil, 0, corruptf("btree deeper than 255 levels")
		}
		pg, err := p.checkedPage(pgno, b.last, false, pIBTree, pLBTree)
		if err != nil {
			return nil, 0, err
		}
		level := int(pg[offLevel])
		if want >= 0 && level != want {
			return nil, 0, corruptf("page %d has level %d, want %d", pgno, level, want)
		}
		if pg[offType] == pLBTree {
			if level != 1 {
				return nil, 0, corruptf("leaf page %d has level %d", pgno, level)
			}
			return pg, pgno, nil
		}
		if level < 2 {
			return nil, 0, corruptf("internal page %d has level %d", pgno, level)
		}
		n, err := p.entries(pg)
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			return nil, 0, corruptf("internal page %d is empty", pgno)
		}
		// The child is the last entry whose key is <= key; entry 0
		// stands for everything below entry 1.
		idx := 0
		if !leftmost {
			lo, hi := 1, n // find the first entry > key in [1, n)
			for lo < hi {
				mid := int(uint(lo+hi) >> 1)
				_, k, err := b.internalEntry(pg, pgno, n, mid)
				if err != nil {
					return nil, 0, err
				}
				c, err := b.compareItem(key, k)
				if err != nil {
					return nil, 0, err
				}
				if c >= 0 {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			idx = lo - 1
		}
		child, _, err := b.internalEntry(pg, pgno, n, idx)
		if err != nil {
			return nil, 0, err
		}
		pgno = child
		want = level - 1
	}
}

// values calls fn with each live value of the pair at index i (a key at
// i, its data at i+1) of a leaf page: one value, or every value of an
// off-page duplicate set. It stops when fn returns false and reports
// whether it was stopped.
func (b *btreeReader) values(data btItem, bud *budget, fn func(val []byte) bool) (bool, error) {
	if data.del {
		return false, nil
	}
	switch data.typ {
	case hKeyData, hOffPage:
		v, err := b.bytesOf(data)
		if err != nil {
			return false, err
		}
		return !fn(v), nil
	case hDuplicate:
		stopped := false
		err := b.dupWalk(data.pgno, bud, func(v []byte) bool {
			if !fn(v) {
				stopped = true
				return false
			}
			return true
		})
		return stopped, err
	}
	return false, corruptf("data item of type %d", data.typ)
}

// lookup calls fn with each value stored under key, in stored order,
// until fn returns false.
func (b *btreeReader) lookup(key []byte, fn func(val []byte) bool) error {
	pg, pgno, err := b.descend(key, false)
	if err != nil {
		return err
	}
	p := b.p
	n, err := p.entries(pg)
	if err != nil {
		return err
	}
	if n%2 != 0 {
		return corruptf("leaf page %d has an odd number of items", pgno)
	}
	// Binary search for the first pair whose key is >= key.
	lo, hi := 0, n/2
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		k, err := b.leafItem(pg, pgno, n, 2*mid)
		if err != nil {
			return err
		}
		c, err := b.compareItem(key, k)
		if err != nil {
			return err
		}
		if c > 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	bud := budget(b.last + 1)
	for i := lo; i < n/2; i++ {
		k, err := b.leafItem(pg, pgno, n, 2*i)
		if err != nil {
			return err
		}
		if c, err := b.compareItem(key, k); err != nil {
			return err
		} else if c != 0 {
			return nil
		}
		d, err := b.leafItem(pg, pgno, n, 2*i+1)
		if err != nil {
			return err
		}
		stopped, err := b.values(d, &bud, fn)
		if err != nil || stopped {
			return err
		}
	}
	return nil
}

func (b *btreeReader) first(key []byte) (val []byte, ok bool, err error) {
	err = b.lookup(key, func(v []byte) bool {
		val, ok = v, true
		return false
	})
	if err != nil {
		return nil, false, err
	}
	return val, ok, nil
}

func (b *btreeReader) all(key []byte) ([][]byte, error) {
	var vals [][]byte
	err := b.lookup(key, func(v []byte) bool {
		vals = append(vals, v)
		return true
	})
	return vals, err
}

// walk visits the leaves from the leftmost one along next_pgno, as a BDB
// cursor does.
func (b *btreeReader) walk(fn func(key, val []byte) error) error {
	p := b.p
	pg, pgno, err := b.descend(nil, true)
	if err != nil {
		return err
	}
	bud := budget(b.last + 1)
	var ferr error
	for {
		if err := bud.spend(); err != nil {
			return err
		}
		n, err := p.entries(pg)
		if err != nil {
			return err
		}
		if n%2 != 0 {
			return corruptf("leaf page %d has an odd number of items", pgno)
		}
		for i := 0; i < n; i += 2 {
			k, err := b.leafItem(pg, pgno, n, i)
			if err != nil {
				return err
			}
			d, err := b.leafItem(pg, pgno, n, i+1)
			if err != nil {
				return err
			}
			if d.del {
				continue
			}
			key, err := b.bytesOf(k)
			if err != nil {
				return err
			}
			stopped, err := b.values(d, &bud, func(v []byte) bool {
				ferr = fn(key, v)
				return ferr == nil
			})
			if err != nil {
				return err
			}
			if stopped {
				return ferr
			}
		}
		next := p.u32(pg, offNextPgno)
		if next == 0 {
			return nil
		}
		prev := pgno
		pgno = next
		if pg, err = p.checkedPage(pgno, b.last, false, pLBTree); err != nil {
			return err
		}
		if pg[offLevel] != 1 {
			return corruptf("leaf page %d has level %d", pgno, pg[offLevel])
		}
		if p.u32(pg, offPrevPgno) != prev {
			return corruptf("leaf page %d does not point back to page %d", pgno, prev)
		}
	}
}

// dupWalk calls fn with each live value of the off-page duplicate tree
// rooted at root: a recno tree (P_IRECNO over P_LRECNO) for unsorted
// duplicates, a btree of P_IBTREE over P_LDUP pages for sorted ones. It
// goes down the leftmost path and then along the leaves' next_pgno.
func (b *btreeReader) dupWalk(root uint32, bud *budget, fn func(val []byte) bool) error {
	p := b.p
	pgno := root
	var pg []byte
	for depth := 0; ; depth++ {
		if err := bud.spend(); err != nil {
			return err
		}
		if depth > 255 {
			return corruptf("duplicate tree deeper than 255 levels")
		}
		var err error
		pg, err = p.checkedPage(pgno, b.last, false, pIRecno, pIBTree, pLRecno, pLDup)
		if err != nil {
			return err
		}
		t := pg[offType]
		if t == pLRecno || t == pLDup {
			break
		}
		n, err := p.entries(pg)
		if err != nil {
			return err
		}
		if n == 0 {
			return corruptf("internal page %d of a duplicate tree is empty", pgno)
		}
		off := int(p.u16(pg, p.hdr))
		if t == pIRecno { // RINTERNAL: u32 pgno, u32 nrecs
			if off < p.hdr+2*n || off+8 > len(pg) {
				return corruptf("entry 0 of page %d overruns the page", pgno)
			}
			pgno = p.u32(pg, off)
		} else {
			child, _, err := b.internalEntry(pg, pgno, n, 0)
			if err != nil {
				return err
			}
			pgno = child
		}
	}
	leafType := pg[offType]
	for {
		n, err := p.entries(pg)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			it, err := b.leafItem(pg, pgno, n, i)
			if err != nil {
				return err
			}
			if it.del {
				continue
			}
			if it.typ == hDuplicate {
				return corruptf("duplicate set inside a duplicate set on page %d", pgno)
			}
			v, err := b.bytesOf(it)
			if err != nil {
				return err
			}
			if !fn(v) {
				return nil
			}
		}
		next := p.u32(pg, offNextPgno)
		if next == 0 {
			return nil
		}
		if err := bud.spend(); err != nil {
			return err
		}
		pgno = next
		if pg, err = p.checkedPage(pgno, b.last, false, leafType); err != nil {
			return err
		}
	}
}
