// SPDX-License-Identifier: MIT

package bdb

import "fmt"

// Hash meta page fields (offsets from the start of page 0).
const (
	hmVersion   = 16
	hmPageSize  = 20
	hmType      = 25
	hmFree      = 28
	hmLastPgno  = 32
	hmFlags     = 48
	hmUID       = 52
	hmMaxBucket = 72
	hmHighMask  = 76
	hmLowMask   = 80
	hmFfactor   = 84
	hmNelem     = 88
	hmCharkey   = 92
	hmSpares    = 96

	hashFlagDup    = 0x01 // DB_HASH_DUP
	hashFlagSubDB  = 0x02 // DB_HASH_SUBDB
	hashFlagDupSrt = 0x04 // DB_HASH_DUPSORT

	hashCharkey = 0x5E688DD1 // hashFunc("%$sniglet^&\x00")
)

// hashFunc is Berkeley DB's default hash, __ham_func5: FNV-1 started at
// 0 rather than at the FNV offset basis.
func hashFunc(k []byte) uint32 {
	var h uint32
	for _, c := range k {
		h *= 16777619
		h ^= uint32(c)
	}
	return h
}

// ceilLog2 returns the smallest i with 1<<i >= n.
func ceilLog2(n uint32) int {
	i := 0
	for uint64(1)<<i < uint64(n) {
		i++
	}
	return i
}

// hashDB reads a hash file.
type hashDB struct {
	p         *pager
	last      uint32 // last_pgno: page numbers above it are corrupt
	maxBucket uint32
	highMask  uint32
	lowMask   uint32
	spares    [32]uint32
	dup       bool
}

// openHash checks the hash meta page and returns a reader.
func openHash(p *pager, meta []byte) (accessMethod, error) {
	v := p.u32(meta, hmVersion)
	if v < 7 || v > 9 {
		return nil, fmt.Errorf("%w: hash version %d (only 7-9 are read without db_upgrade)", ErrUnsupported, v)
	}
	if meta[hmType] != pHashMeta {
		return nil, corruptf("meta page has type %d, want %d", meta[hmType], pHashMeta)
	}
	flags := p.u32(meta, hmFlags)
	if flags&hashFlagSubDB != 0 {
		return nil, fmt.Errorf("%w: hash file with sub-databases", ErrUnsupported)
	}
	h := &hashDB{
		p:         p,
		last:      p.u32(meta, hmLastPgno),
		maxBucket: p.u32(meta, hmMaxBucket),
		highMask:  p.u32(meta, hmHighMask),
		lowMask:   p.u32(meta, hmLowMask),
		dup:       flags&(hashFlagDup|hashFlagDupSrt) != 0,
	}
	for i := range h.spares {
		h.spares[i] = p.u32(meta, hmSpares+4*i)
	}
	if uint64(h.last+1)*uint64(p.pageSize) > uint64(p.size) {
		return nil, corruptf("file of %d bytes is truncated: last page is %d of %d bytes", p.size, h.last, p.pageSize)
	}
	// Every bucket has a page of its own, so there are fewer buckets than
	// pages; this also bounds Walk by the file size.
	if h.maxBucket >= h.last || h.maxBucket > h.highMask {
		return nil, corruptf("max_bucket %d does not fit high_mask %#x and %d pages", h.maxBucket, h.highMask, h.last+1)
	}
	return h, nil
}

func (h *hashDB) duplicates() bool { return h.dup }

// bucketPage returns the first page of the bucket key hashes to.
func (h *hashDB) bucketPage(key []byte) (uint32, error) {
	b := hashFunc(key) & h.highMask
	if b > h.maxBucket {
		b &= h.lowMask
	}
	if b > h.maxBucket {
		return 0, corruptf("low_mask %#x leaves bucket %d above max_bucket %d", h.lowMask, b, h.maxBucket)
	}
	return h.bucketPgno(b), nil
}

func (h *hashDB) bucketPgno(b uint32) uint32 {
	return b + h.spares[ceilLog2(b+1)]
}

// find locates key in its bucket chain and returns the page holding it
// and the index of its data item. pg is nil when the key is absent.
//
// Every page read, chain or overflow, is charged to b: in a well-formed
// file one lookup reads each page at most once, so a forged file cannot
// make it read more than the file holds.
func (h *hashDB) find(key []byte, b *budget) (pg []byte, di int, err error) {
	pgno, err := h.bucketPage(key)
	if err != nil {
		return nil, 0, err
	}
	p := h.p
	for pgno != 0 {
		if err := b.spend(); err != nil {
			return nil, 0, err
		}
		pg, err := p.checkedPage(pgno, h.last, true, pHash, pHashUnsorted)
		if err != nil || pg == nil {
			return nil, 0, err
		}
		n, err := p.entries(pg)
		if err != nil {
			return nil, 0, err
		}
		// A linear scan: it tolerates pages that are not sorted (the
		// pre-4.6 P_HASH_UNSORTED kind) and compares lengths first, so
		// it costs a few nanoseconds per pair.
		end := len(pg)
		for i := 0; i+1 < n; i += 2 {
			off := int(p.u16(pg, p.hdr+2*i))
			if off < p.hdr+2*n || off >= end || end > len(pg) {
				return nil, 0, corruptf("item %d of page %d overruns the page", i, pgno)
			}
			l := end - off
			end = int(p.u16(pg, p.hdr+2*i+2))
			// Item lengths come from the index array alone; the item
			// itself (elsewhere on the page, likely another cache line)
			// is read only when its length can match.
			if l != len(key)+1 && l != 12 {
				continue
			}
			k := pg[off : off+l]
			switch k[0] {
			case hKeyData:
				if string(k[1:]) == string(key) {
					return pg, i + 1, nil
				}
			case hOffPage:
				if l != 12 {
					return nil, 0, corruptf("item %d of page %d is an off-page item of %d bytes", i, pgno, l)
				}
				if int64(p.u32(k, 8)) == int64(len(key)) {
					eq, err := p.overflowEqual(p.u32(k, 4), p.u32(k, 8), h.last, b, key)
					if err != nil {
						return nil, 0, err
					}
					if eq {
						return pg, i + 1, nil
					}
				}
			default:
				return nil, 0, corruptf("key item %d of page %d has type %d", i, pgno, k[0])
			}
		}
		pgno = p.u32(pg, offNextPgno)
	}
	return nil, 0, nil
}

// values calls fn with each value of data item di of pg, in stored order,
// until fn returns false, charging the pages it reads to b.
func (h *hashDB) values(pg []byte, di int, b *budget, fn func([]byte) bool) error {
	p := h.p
	n, err := p.entries(pg)
	if err != nil {
		return err
	}
	off, end, err := p.itemBounds(pg, n, di)
	if err != nil {
		return err
	}
	d := pg[off:end]
	switch d[0] {
	case hKeyData:
		fn(d[1:])
		return nil
	case hOffPage:
		if len(d) < 12 {
			return corruptf("data item %d of page %d is a short off-page item", di, p.u32(pg, offPgno))
		}
		v, err := p.readOverflowB(p.u32(d, 4), p.u32(d, 8), h.last, b)
		if err != nil {
			return err
		}
		fn(v)
		return nil
	case hDuplicate:
		// {u16 len, len bytes, u16 len} repeated.
		rest := d[1:]
		for len(rest) > 0 {
			if len(rest) < 4 {
				return corruptf("duplicate set on page %d is truncated", p.u32(pg, offPgno))
			}
			l := int(p.u16(rest, 0))
			if 4+l > len(rest) || int(p.u16(rest, 2+l)) != l {
				return corruptf("duplicate set on page %d is malformed", p.u32(pg, offPgno))
			}
			if !fn(rest[2 : 2+l]) {
				return nil
			}
			rest = rest[4+l:]
		}
		return nil
	case hOffDup:
		if len(d) < 8 {
			return corruptf("data item %d of page %d is a short off-page duplicate item", di, p.u32(pg, offPgno))
		}
		return p.offDupWalk(p.u32(d, 4), h.last, b, fn)
	}
	return corruptf("data item %d of page %d has type %d", di, p.u32(pg, offPgno), d[0])
}

func (h *hashDB) first(key []byte) (val []byte, ok bool, err error) {
	b := budget(h.last + 1)
	pg, di, err := h.find(key, &b)
	if err != nil || pg == nil {
		return nil, false, err
	}
	// The common case, a value on the page, returns a slice of the page
	// (of the mapping, when mapped) without allocating.
	p := h.p
	n, err := p.entries(pg)
	if err != nil {
		return nil, false, err
	}
	off, end, err := p.itemBounds(pg, n, di)
	if err != nil {
		return nil, false, err
	}
	if pg[off] == hKeyData {
		return pg[off+1 : end], true, nil
	}
	return h.firstValue(pg, di, &b)
}

// firstValue returns the first value of any data item.
func (h *hashDB) firstValue(pg []byte, di int, b *budget) (val []byte, ok bool, err error) {
	err = h.values(pg, di, b, func(v []byte) bool {
		val, ok = v, true
		return false
	})
	if err != nil {
		return nil, false, err
	}
	return val, ok, nil
}

func (h *hashDB) all(key []byte) ([][]byte, error) {
	b := budget(h.last + 1)
	pg, di, err := h.find(key, &b)
	if err != nil || pg == nil {
		return nil, err
	}
	var vals [][]byte
	err = h.values(pg, di, &b, func(v []byte) bool {
		vals = append(vals, v)
		return true
	})
	if err != nil {
		return nil, err
	}
	return vals, nil
}

// walk lists every record in cursor order: bucket by bucket, each bucket
// page by page along its chain, each page in index order, and each
// duplicate set in stored order. This is the order of makemap -u.
func (h *hashDB) walk(fn func(key, val []byte) error) error {
	p := h.p
	// Each page of a well-formed file is visited once at most, whether
	// bucket, chain, overflow or duplicate-tree page.
	b := budget(h.last + 1)
	for bucket := uint32(0); bucket <= h.maxBucket; bucket++ {
		pgno := h.bucketPgno(bucket)
		for pgno != 0 {
			if err := b.spend(); err != nil {
				return err
			}
			pg, err := p.checkedPage(pgno, h.last, true, pHash, pHashUnsorted)
			if err != nil {
				return err
			}
			if pg == nil {
				break
			}
			n, err := p.entries(pg)
			if err != nil {
				return err
			}
			for i := 0; i+1 < n; i += 2 {
				off, end, err := p.itemBounds(pg, n, i)
				if err != nil {
					return err
				}
				k := pg[off:end]
				var key []byte
				switch k[0] {
				case hKeyData:
					key = k[1:]
				case hOffPage:
					if len(k) < 12 {
						return corruptf("item %d of page %d is a short off-page item", i, pgno)
					}
					if key, err = p.readOverflowB(p.u32(k, 4), p.u32(k, 8), h.last, &b); err != nil {
						return err
					}
				default:
					return corruptf("key item %d of page %d has type %d", i, pgno, k[0])
				}
				var ferr error
				err = h.values(pg, i+1, &b, func(v []byte) bool {
					ferr = fn(key, v)
					return ferr == nil
				})
				if err != nil {
					return err
				}
				if ferr != nil {
					return ferr
				}
			}
			pgno = p.u32(pg, offNextPgno)
		}
	}
	return nil
}
