// SPDX-License-Identifier: MIT

package bdb

import "bytes"

// Page types (byte 25 of every page header).
const (
	pInvalid      = 0
	pHashUnsorted = 2
	pIBTree       = 3
	pIRecno       = 4
	pLBTree       = 5
	pLRecno       = 6
	pOverflow     = 7
	pHashMeta     = 8
	pLDup         = 12
	pHash         = 13
)

// Item types: the first byte of a hash item, the third of a btree or
// recno leaf item.
const (
	hKeyData   = 1 // H_KEYDATA / B_KEYDATA
	hDuplicate = 2 // H_DUPLICATE
	hOffPage   = 3 // H_OFFPAGE / B_OVERFLOW
	hOffDup    = 4 // H_OFFDUP
	bDelete    = 0x80
)

// budget bounds the number of pages one walk may visit, so that a page
// chain that loops (or a tree that points back up) ends in an error
// instead of a hang. In a well-formed file every page belongs to one
// chain or tree, so the page count is a safe bound.
type budget int

func (b *budget) spend() error {
	if *b <= 0 {
		return corruptf("page chain loops or is longer than the file")
	}
	*b--
	return nil
}

// checkedPage returns page n after checking that n is inside the file
// (n <= last), that the page is not an all-zero page unless zeroOK, that
// its header names it, and that its type is one of types. An all-zero page
// is returned as nil when zeroOK.
func (p *pager) checkedPage(n, last uint32, zeroOK bool, types ...byte) ([]byte, error) {
	if n == 0 || n > last {
		return nil, corruptf("page number %d out of range 1..%d", n, last)
	}
	pg, err := p.page(n)
	if err != nil {
		return nil, err
	}
	got := p.u32(pg, offPgno)
	if got == 0 && zeroOK && pg[offType] == pInvalid {
		return nil, nil
	}
	if got != n {
		return nil, corruptf("page %d says it is page %d", n, got)
	}
	for _, t := range types {
		if pg[offType] == t {
			return pg, nil
		}
	}
	// A copy for the message keeps types from escaping, so the variadic
	// slice stays on the caller's stack.
	want := append([]byte(nil), types...)
	return nil, corruptf("page %d has type %d, want one of %v", n, pg[offType], want)
}

// overflowChunks calls fn with each piece of the overflow item of tlen
// bytes that starts on page pgno, in order, and checks that the chain
// holds exactly tlen bytes. It stops early, without error, when fn
// returns false.
func (p *pager) overflowChunks(pgno, tlen, last uint32, b *budget, fn func([]byte) bool) error {
	var got uint64
	for pgno != 0 {
		if err := b.spend(); err != nil {
			return err
		}
		pg, err := p.checkedPage(pgno, last, false, pOverflow)
		if err != nil {
			return err
		}
		n := int(p.u16(pg, offHfOffset))
		if p.hdr+n > len(pg) {
			return corruptf("overflow page %d holds %d bytes, more than fit", pgno, n)
		}
		got += uint64(n)
		if got > uint64(tlen) {
			return corruptf("overflow chain at page %d is longer than %d bytes", pgno, tlen)
		}
		if !fn(pg[p.hdr : p.hdr+n]) {
			return nil
		}
		pgno = p.u32(pg, offNextPgno)
	}
	if got != uint64(tlen) {
		return corruptf("overflow chain holds %d bytes, want %d", got, tlen)
	}
	return nil
}

// readOverflow returns the tlen bytes of the overflow item at pgno.
func (p *pager) readOverflow(pgno, tlen, last uint32) ([]byte, error) {
	b := budget(last + 1)
	return p.readOverflowB(pgno, tlen, last, &b)
}

// readOverflowB is readOverflow charging the pages it reads to b.
func (p *pager) readOverflowB(pgno, tlen, last uint32, b *budget) ([]byte, error) {
	// A chain cannot hold more than the file does; refuse before
	// allocating for a forged length.
	if uint64(tlen) > uint64(last+1)*uint64(p.pageSize-p.hdr) {
		return nil, corruptf("overflow item of %d bytes is larger than the file", tlen)
	}
	out := make([]byte, 0, tlen)
	err := p.overflowChunks(pgno, tlen, last, b, func(c []byte) bool {
		out = append(out, c...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// overflowEqual reports whether the overflow item at pgno, of tlen bytes,
// equals key, without assembling it.
func (p *pager) overflowEqual(pgno, tlen, last uint32, b *budget, key []byte) (bool, error) {
	if int64(tlen) != int64(len(key)) {
		return false, nil
	}
	rest := key
	equal := true
	err := p.overflowChunks(pgno, tlen, last, b, func(c []byte) bool {
		if len(c) > len(rest) || !bytes.Equal(c, rest[:len(c)]) {
			equal = false
			return false
		}
		rest = rest[len(c):]
		return true
	})
	if err != nil {
		return false, err
	}
	return equal && len(rest) == 0, nil
}

// itemBounds returns the start and end of item i on a page whose items
// are packed back to back from the end of the page in index order (hash
// pages): item i ends where item i-1 starts.
func (p *pager) itemBounds(pg []byte, nent, i int) (int, int, error) {
	lo := p.hdr + 2*nent
	end := len(pg)
	if i > 0 {
		end = int(p.u16(pg, p.hdr+2*(i-1)))
	}
	off := int(p.u16(pg, p.hdr+2*i))
	if off < lo || off >= end || end > len(pg) {
		return 0, 0, corruptf("item %d of page %d at %d..%d overruns the page", i, p.u32(pg, offPgno), off, end)
	}
	return off, end, nil
}

// entries returns the item count of pg after checking that its index
// array fits on the page.
func (p *pager) entries(pg []byte) (int, error) {
	n := int(p.u16(pg, offEntries))
	if p.hdr+2*n > len(pg) {
		return 0, corruptf("page %d claims %d items, more than fit", p.u32(pg, offPgno), n)
	}
	return n, nil
}
