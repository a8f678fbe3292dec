// SPDX-License-Identifier: MIT

package mbox

import (
	"io"
	"slices"
)

// syncCtx carries Dovecot's mbox sync state across one parse.
type syncCtx struct {
	nextUID     uint32
	prevUID     uint32
	lastNonRec  uint32
	uidValidity uint32
}

// parse reads the whole file and rebuilds the message list with Dovecot's
// rules for X-IMAPbase, X-UID, Status, X-Status and X-Keywords. old is the
// previous in-memory state (nil on open): a message that still lies at the
// same place without an X-UID keeps the UID we gave it but had not written.
func (mb *Mailbox) parse(st fileID, old []*msg) error {
	return mb.parseSeeded(st, old, nil)
}

// parseSeeded is parse with the keyword list seeded (from a stale index),
// as Dovecot's index keeps keywords the file no longer lists.
func (mb *Mailbox) parseSeeded(st fileID, old []*msg, seed []string) error {
	sc := newScanner(mb.f, 0, st.size, mb.opts.loc())
	defer sc.close()
	ctx := syncCtx{nextUID: 1}
	if old != nil && mb.nextUID > 0 {
		ctx.nextUID = mb.nextUID
		ctx.uidValidity = mb.uidValidity
	}
	oldAt := map[int64]*msg{}
	for _, m := range old {
		if m != nil && !m.pseudo {
			oldAt[m.fromOff] = m
		}
	}
	if old == nil {
		mb.keywords = nil
		mb.kwIndex = map[string]int{}
		for _, k := range seed {
			if _, dup := mb.kwIndex[k]; !dup && validKeyword(k) {
				mb.keywords = append(mb.keywords, k)
				mb.kwIndex[k] = len(mb.keywords) - 1
			}
		}
	}
	mb.msgs = mb.msgs[:0:0]
	mb.pseudo = nil
	mb.baseRewrite = false
	seq := 0
	for {
		raw, err := sc.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		seq++
		m := mb.parseMessage(&ctx, raw, seq, oldAt[raw.fromOff])
		if m.pseudo {
			mb.pseudo = m
			continue
		}
		mb.msgs = append(mb.msgs, m)
	}
	if seq == 0 {
		// Empty file: a new mailbox. Dovecot picks UIDVALIDITY at the first
		// sync and writes nothing until a message arrives.
		if ctx.uidValidity == 0 {
			ctx.uidValidity = mb.newUIDValidity()
		}
	}
	mb.uidValidity = ctx.uidValidity
	mb.nextUID = ctx.nextUID
	if old == nil {
		mb.firstRecentUID = 0
	}
	first := max(ctx.lastNonRec, mb.firstRecentUID-min(mb.firstRecentUID, 1))
	for _, m := range mb.msgs {
		m.recent = m.uid > first
	}
	return nil
}

func (mb *Mailbox) newUIDValidity() uint32 {
	if mb.opts.NewUIDValidity != nil {
		if v := mb.opts.NewUIDValidity(); v != 0 {
			return v
		}
	}
	v := uint32(mb.opts.now().Unix())
	if v == 0 {
		v = 1
	}
	return v
}

// parseMessage applies Dovecot's per-header rules (mbox-sync-parse.c as
// observed in tricky/17, 19, 20, 21) to one scanned message.
func (mb *Mailbox) parseMessage(ctx *syncCtx, raw *rawMsg, seq int, prev *msg) *msg {
	if len(mb.slab) == 0 {
		mb.slab = make([]msg, 1024)
	}
	m := &mb.slab[0]
	mb.slab = mb.slab[1:]
	*m = msg{
		fromOff: raw.fromOff, hdrOff: raw.hdrOff, bodyOff: raw.bodyOff, end: raw.end,
		haveEOH: raw.haveEOH, date: raw.date.Unix(), sender: raw.sender, baseLastAt: -1,
	}
	hdr := raw.hdr
	seenBase, seenCL, seenKw := false, false, false
	kwLater, kwValue := false, []byte(nil)
	removed := false
	mb.lines = splitHeaderInto(mb.lines, hdr)
	for _, h := range mb.lines {
		v := h.value(hdr)
		drop := false
		switch h.kind {
		case hdrContentLength:
			if _, ok := parseDigitsLWSP(v); seenCL || !ok {
				drop = true
			} else {
				seenCL = true
			}
		case hdrStatus, hdrXStatus:
			f, dup := parseStatusValue(v, h.kind == hdrXStatus)
			m.flags |= f
			if dup {
				m.dirty = true
			}
		case hdrXIMAP, hdrXIMAPbase:
			if seq != 1 || seenBase {
				drop = true
				break
			}
			b, ok := parseIMAPBase(v)
			if !ok {
				drop = true
				break
			}
			seenBase = true
			m.baseOK = true
			m.baseLast = b.uidLast
			if b.tenDigits && !removed {
				m.baseLastAt = raw.hdrOff + int64(h.valStart+b.lastPos)
			} else {
				mb.baseRewrite = true
			}
			if ctx.uidValidity == 0 || ctx.uidValidity == b.uidValidity {
				ctx.uidValidity = b.uidValidity
				if ctx.nextUID-1 <= b.uidLast {
					ctx.nextUID = b.uidLast + 1
				}
			}
			for _, k := range b.keywords {
				if validKeyword(k) {
					if _, ok := mb.kwIndex[k]; !ok {
						mb.keywords = append(mb.keywords, k)
						mb.kwIndex[k] = len(mb.keywords) - 1
					}
				}
			}
			if len(b.keywords) != len(mb.keywords) {
				mb.baseRewrite = true
			}
			if h.kind == hdrXIMAP {
				m.pseudo = true
			}
		case hdrXKeywords:
			if seenKw || kwLater {
				drop = true
				break
			}
			if seq == 1 && !seenBase {
				// After an expunge the new first message keeps its
				// X-Keywords above the X-IMAPbase added below it; judge
				// the line against that keyword list (Dovecot's index
				// knows it), not against an empty one.
				kwLater, kwValue = true, v
				break
			}
			drop = !mb.parseKeywords(m, v)
			seenKw = !drop
		case hdrXUID:
			if m.uid != 0 {
				drop = true
				break
			}
			val, ok := parseDigitsLWSP(v)
			if !ok || val > 0xffffffff || (seq == 1 && !seenBase) {
				drop = true
				break
			}
			u := uint32(val)
			if u == ctx.nextUID {
				ctx.nextUID++
			} else if u > ctx.nextUID {
				drop = true // larger than expected: untrusted
				break
			}
			if u <= ctx.prevUID {
				drop = true // UIDs must grow
				break
			}
			m.uid = u
		}
		if drop {
			removed = true
			m.dirty = true
		}
	}
	if kwLater && !mb.parseKeywords(m, kwValue) {
		m.dirty = true
		if seenBase {
			// Dropping this line moves the X-IMAPbase below it.
			m.baseLastAt = -1
			mb.baseRewrite = true
		}
	}
	if seq == 1 && !seenBase {
		m.dirty = true
		if ctx.uidValidity == 0 {
			ctx.uidValidity = mb.newUIDValidity()
		}
	}
	if !m.pseudo && m.uid == 0 {
		if prev != nil && prev.uid > ctx.prevUID && prev.uid < ctx.nextUID && prev.hdrOff == m.hdrOff && prev.bodyOff == m.bodyOff {
			m.uid = prev.uid
		} else {
			m.uid = ctx.nextUID
			ctx.nextUID++
		}
		m.dirty = true
	}
	if !m.pseudo {
		ctx.prevUID = m.uid
		if m.flags&flagNonRecent != 0 {
			ctx.lastNonRec = m.uid
		}
	}
	m.hdrFlags = m.flags
	m.hdrKw = m.kw
	m.bodyVis = (raw.end - raw.bodyOff) + raw.bodyLF - raw.bodyCRLF
	m.size = visibleHeaderSize(hdr, mb.lines) + m.bodyVis
	return m
}

// parseKeywords sets m's keywords from an X-Keywords value; it reports
// false (the line is to be dropped) when a keyword is not in the list.
func (mb *Mailbox) parseKeywords(m *msg, v []byte) bool {
	var kw []int
	for _, k := range splitWords(v) {
		idx, ok := mb.kwIndex[k]
		if !ok {
			return false
		}
		if !slices.Contains(kw, idx) {
			kw = append(kw, idx)
		}
	}
	slices.Sort(kw)
	m.kw = kw
	return true
}

// parseTail brings an index-loaded state up to date with a file that only
// grew since (deliveries append): the last indexed message and everything
// after it are parsed again, the rest is kept.
func (mb *Mailbox) parseTail(st fileID) error {
	all := mb.ordered()
	k := len(all) - 1
	last := all[k]
	ctx := syncCtx{nextUID: mb.nextUID, uidValidity: mb.uidValidity}
	for _, m := range all[:k] {
		if !m.pseudo {
			ctx.prevUID = m.uid
			if m.hdrFlags&flagNonRecent != 0 {
				ctx.lastNonRec = m.uid
			}
		}
	}
	if last.pseudo {
		mb.pseudo = nil
	} else {
		mb.msgs = mb.msgs[:len(mb.msgs)-1]
	}
	sc := newScanner(mb.f, last.fromOff, st.size, mb.opts.loc())
	defer sc.close()
	seq := k
	for {
		raw, err := sc.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		seq++
		var prev *msg
		if raw.fromOff == last.fromOff {
			prev = last
		}
		m := mb.parseMessage(&ctx, raw, seq, prev)
		if prev != nil && m.uid == prev.uid && m.hdrFlags == prev.hdrFlags && slices.Equal(m.hdrKw, prev.hdrKw) {
			m.flags, m.kw, m.dirty = prev.flags, prev.kw, m.dirty || prev.dirty
		}
		if m.pseudo {
			mb.pseudo = m
			continue
		}
		mb.msgs = append(mb.msgs, m)
	}
	mb.nextUID = ctx.nextUID
	first := max(ctx.lastNonRec, mb.firstRecentUID-min(mb.firstRecentUID, 1))
	for _, m := range mb.msgs[max(0, len(mb.msgs)-(seq-k)):] {
		m.recent = m.uid > first
	}
	return nil
}
