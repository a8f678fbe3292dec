// SPDX-License-Identifier: MIT

package bdb

// dupTree lays out the values vals of one key as an off-page duplicate
// set: the unsorted-duplicate Recno tree BDB builds when an on-page set
// outgrows a quarter page (see recno.go). Pages are numbered from *next
// on: the leaves, then the overflow pages of long values, then the
// internal pages level by level, the root last. It returns the root's
// page number, and writes the pages when emit is set.
func (hw *hashWriter) dupTree(vals []int32, next *uint32, emit bool) uint32 {
	room := hw.ps - pageHdrSize
	size := func(v []byte) int {
		if len(v) > hw.ovfl {
			return 12 // BOVERFLOW
		}
		return (3 + len(v) + 3) &^ 3 // BKEYDATA, 4-byte aligned
	}
	type span struct{ lo, hi int }
	var leaves []span
	used := room + 1
	for i, r := range vals {
		s := size(hw.recs[r].val) + 2
		if used+s > room {
			leaves = append(leaves, span{i, i})
			used = 0
		}
		used += s
		leaves[len(leaves)-1].hi = i + 1
	}
	leafStart := *next
	*next += uint32(len(leaves))
	ov := *next
	for _, r := range vals {
		if v := hw.recs[r].val; len(v) > hw.ovfl {
			*next += hw.ovPages(len(v))
		}
	}
	if emit {
		ovl := ov // overflow page of the next long value
		for li, sp := range leaves {
			pg := hw.clear()
			prev, nxt := uint32(0), uint32(0)
			if li > 0 {
				prev = leafStart + uint32(li) - 1
			}
			if li+1 < len(leaves) {
				nxt = leafStart + uint32(li) + 1
			}
			hw.header(pg, leafStart+uint32(li), prev, nxt, pLRecno, 1)
			top := hw.ps
			for k, r := range vals[sp.lo:sp.hi] {
				v := hw.recs[r].val
				top -= size(v)
				hw.o.PutUint16(pg[pageHdrSize+2*k:], uint16(top))
				if len(v) > hw.ovfl {
					pg[top+2] = hOffPage
					hw.o.PutUint32(pg[top+4:], ovl)
					hw.o.PutUint32(pg[top+8:], uint32(len(v)))
					ovl += hw.ovPages(len(v))
				} else {
					hw.o.PutUint16(pg[top:], uint16(len(v)))
					pg[top+2] = hKeyData
					copy(pg[top+3:], v)
				}
			}
			hw.o.PutUint16(pg[offEntries:], uint16(sp.hi-sp.lo))
			hw.o.PutUint16(pg[offHfOffset:], uint16(top))
			hw.emit()
		}
		for _, r := range vals {
			if v := hw.recs[r].val; len(v) > hw.ovfl {
				hw.overflow(v, ov)
				ov += hw.ovPages(len(v))
			}
		}
	}

	// Internal levels, RINTERNAL items {pgno, nrecs}.
	type child struct{ pgno, nrecs uint32 }
	kids := make([]child, len(leaves))
	for i, sp := range leaves {
		kids[i] = child{leafStart + uint32(i), uint32(sp.hi - sp.lo)}
	}
	per := room / 10
	for level := byte(2); len(kids) > 1; level++ {
		var up []child
		for i := 0; i < len(kids); i += per {
			group := kids[i:min(len(kids), i+per)]
			c := child{pgno: *next}
			*next++
			for _, k := range group {
				c.nrecs += k.nrecs
			}
			up = append(up, c)
			if emit {
				pg := hw.clear()
				// An internal page keeps its record count where other
				// pages keep prev_pgno (RE_NREC).
				hw.header(pg, c.pgno, c.nrecs, 0, pIRecno, level)
				top := hw.ps
				for k, g := range group {
					top -= 8
					hw.o.PutUint16(pg[pageHdrSize+2*k:], uint16(top))
					hw.o.PutUint32(pg[top:], g.pgno)
					hw.o.PutUint32(pg[top+4:], g.nrecs)
				}
				hw.o.PutUint16(pg[offEntries:], uint16(len(group)))
				hw.o.PutUint16(pg[offHfOffset:], uint16(top))
				hw.emit()
			}
		}
		kids = up
	}
	return kids[0].pgno
}
