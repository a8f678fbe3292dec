// SPDX-License-Identifier: MIT

package bdb

// Off-page duplicate sets. A hash data item of type H_OFFDUP names the
// root of a small tree that holds the values of one key. makemap -d makes
// unsorted duplicates, so the tree is a Recno tree: internal pages
// (P_IRECNO) of {u32 pgno, u32 nrecs} items above leaf pages (P_LRECNO)
// of {u16 len, u8 type, data} items, leaves linked through next_pgno in
// value order. Sorted duplicate sets (DB_DUPSORT) use the same leaf item
// layout on P_LDUP pages below P_IBTREE pages; they are read the same way.

// offDupWalk calls fn with each value of the duplicate tree rooted at
// root, in stored order, until fn returns false. Values on a leaf page
// alias the page; overflow values are freshly allocated.
func (p *pager) offDupWalk(root, last uint32, b *budget, fn func(val []byte) bool) error {
	pgno := root
	// Go down the leftmost path to the first leaf.
	for {
		if err := b.spend(); err != nil {
			return err
		}
		pg, err := p.checkedPage(pgno, last, false, pIRecno, pIBTree, pLRecno, pLDup)
		if err != nil {
			return err
		}
		t := pg[offType]
		if t == pLRecno || t == pLDup {
			return p.leafWalk(pg, pgno, last, b, fn)
		}
		n, err := p.entries(pg)
		if err != nil {
			return err
		}
		if n == 0 {
			return corruptf("internal page %d of a duplicate tree is empty", pgno)
		}
		off := int(p.u16(pg, p.hdr))
		if t == pIRecno {
			// RINTERNAL: u32 pgno, u32 nrecs.
			if off < p.hdr+2*n || off+8 > len(pg) {
				return corruptf("item 0 of page %d overruns the page", pgno)
			}
			pgno = p.u32(pg, off)
		} else {
			// BINTERNAL: u16 len, u8 type, u8 unused, u32 pgno, u32 nrecs, data.
			if off < p.hdr+2*n || off+12 > len(pg) {
				return corruptf("item 0 of page %d overruns the page", pgno)
			}
			pgno = p.u32(pg, off+4)
		}
	}
}

// leafWalk walks the leaf pg (page pgno) and the leaves after it.
func (p *pager) leafWalk(pg []byte, pgno, last uint32, b *budget, fn func(val []byte) bool) error {
	for {
		n, err := p.entries(pg)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			off := int(p.u16(pg, p.hdr+2*i))
			if off < p.hdr+2*n || off+3 > len(pg) {
				return corruptf("item %d of page %d overruns the page", i, pgno)
			}
			typ := pg[off+2]
			if typ&bDelete != 0 {
				continue
			}
			var val []byte
			switch typ {
			case hKeyData:
				l := int(p.u16(pg, off))
				if off+3+l > len(pg) {
					return corruptf("item %d of page %d overruns the page", i, pgno)
				}
				val = pg[off+3 : off+3+l]
			case hOffPage:
				if off+12 > len(pg) {
					return corruptf("item %d of page %d overruns the page", i, pgno)
				}
				val, err = p.readOverflowB(p.u32(pg, off+4), p.u32(pg, off+8), last, b)
				if err != nil {
					return err
				}
			default:
				return corruptf("item %d of page %d has type %d", i, pgno, typ)
			}
			if !fn(val) {
				return nil
			}
		}
		next := p.u32(pg, offNextPgno)
		if next == 0 {
			return nil
		}
		if err := b.spend(); err != nil {
			return err
		}
		want := pg[offType]
		pgno = next
		if pg, err = p.checkedPage(pgno, last, false, want); err != nil {
			return err
		}
	}
}
