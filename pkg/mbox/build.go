// SPDX-License-Identifier: MIT

package mbox

import (
	"slices"
	"strconv"
)

// headerPadding is the blank space Dovecot leaves after its headers when it
// has to move data anyway (MBOX_HEADER_PADDING), so later flag changes fit
// in place.
const headerPadding = 50

// minContentLength: Dovecot adds Content-Length to a header it rewrites
// only for bodies at least this long (MBOX_MIN_CONTENT_LENGTH_SIZE).
const minContentLength = 1024

// builtHeader is a message header as Dovecot would write it, before the
// padding is settled: pad is where blanks go (end of the padding line's
// value) or -1 when there is no line to pad.
type builtHeader struct {
	b   []byte
	pad int
}

// buildHeader rewrites a message's header block the way Dovecot's
// mbox_sync_update_header does: broken private headers are dropped, Status
// and X-Status letters replaced in place, X-Keywords / X-IMAPbase / X-UID
// rewritten, missing headers appended (X-IMAPbase, X-UID, Status, X-Status,
// X-Keywords, Content-Length) and the blank line written as a bare LF.
// first says the message is (now) the first in the file.
func (mb *Mailbox) buildHeader(hdr []byte, m *msg, first bool) builtHeader {
	lines := splitHeader(hdr)
	out := make([]byte, 0, len(hdr)+128)
	var (
		seenBase, seenCL, seenKw, seenUID bool
		haveStatus, haveXStatus           bool
		lastStatus, lastXStatus           = -1, -1
		removed                           bool
		spaceLine                         = -1 // index into lines with the most trailing blanks
		spaceAmount                       int
	)
	keep := make([]bool, len(lines))
	for i, h := range lines {
		v := h.value(hdr)
		k := true
		switch h.kind {
		case hdrContentLength:
			if _, ok := parseDigitsLWSP(v); seenCL || !ok {
				k = false
			} else {
				seenCL = true
			}
		case hdrStatus:
			lastStatus = i
		case hdrXStatus:
			lastXStatus = i
		case hdrXIMAP, hdrXIMAPbase:
			if !first || seenBase {
				k = false
			} else if _, ok := parseIMAPBase(v); !ok {
				k = false
			} else {
				seenBase = true
			}
		case hdrXKeywords:
			if seenKw {
				k = false
				break
			}
			for _, w := range splitWords(v) {
				if _, ok := mb.kwIndex[w]; !ok {
					k = false
				}
			}
			seenKw = k
		case hdrXUID:
			val, ok := parseDigitsLWSP(v)
			if seenUID || !ok || uint32(val) != m.uid || val > 0xffffffff || (first && !seenBase) || m.pseudo {
				k = false
			} else {
				seenUID = true
			}
		}
		keep[i] = k
		if !k {
			removed = true
		}
		if k && (h.kind == hdrXIMAP || h.kind == hdrXIMAPbase || h.kind == hdrXKeywords || h.kind == hdrXUID) {
			if n := trailingSpace(v); n > spaceAmount {
				spaceAmount, spaceLine = n, i
			}
		}
	}
	haveStatus, haveXStatus = lastStatus >= 0, lastXStatus >= 0

	flags := m.flags
	pad := -1
	kwLine, uidLine := -1, -1
	for i, h := range lines {
		if !keep[i] {
			continue
		}
		switch {
		case i == lastStatus || i == lastXStatus:
			x := i == lastXStatus
			out = append(out, hdr[h.start:h.valStart]...)
			out = appendStatusLetters(out, flags, x)
			v := h.value(hdr)
			for _, c := range v {
				var g Flag
				if x {
					g = xstatusFlag(c)
				} else {
					g = statusFlag(c)
				}
				if g == 0 {
					out = append(out, c)
				}
			}
			out = append(out, hdr[h.valStart+len(v):h.end]...)
		case h.kind == hdrXKeywords:
			out = append(out, hdr[h.start:h.valStart]...)
			out = mb.appendKeywords(out, m.kw)
			kwLine = len(out)
			out = append(out, '\n')
		case h.kind == hdrXIMAP || h.kind == hdrXIMAPbase:
			out = append(out, hdr[h.start:h.valStart]...)
			if mb.baseRewrite || removed {
				out = mb.appendBase(out)
				if m.pseudo {
					pad = len(out)
				}
			} else {
				// Only uid-last changes; it keeps its 10 digits.
				v := h.value(hdr)
				b, _ := parseIMAPBase(v)
				out = append(out, v[:b.lastPos]...)
				out = appendUID10(out, mb.nextUID-1)
				rest := v[b.lastPos+10:]
				if i == spaceLine {
					rest = rest[:len(rest)-trailingSpace(rest)]
				}
				out = append(out, rest...)
				if i == spaceLine || m.pseudo {
					pad = len(out)
				}
			}
			out = append(out, '\n')
		case h.kind == hdrXUID:
			v := h.value(hdr)
			vlen := len(v)
			out = append(out, hdr[h.start:h.valStart]...)
			if i == spaceLine {
				v = v[:len(v)-trailingSpace(v)]
				pad = len(out) + len(v)
			}
			out = append(out, v...)
			uidLine = len(out)
			out = append(out, hdr[h.valStart+vlen:h.end]...)
		default:
			out = append(out, hdr[h.start:h.end]...)
		}
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if first && !seenBase {
		if m.pseudo {
			out = append(out, "X-IMAP: "...)
		} else {
			out = append(out, "X-IMAPbase: "...)
		}
		out = mb.appendBase(out)
		if m.pseudo {
			pad = len(out)
		}
		out = append(out, '\n')
	}
	if !seenUID && !m.pseudo {
		out = append(out, "X-UID: "...)
		out = appendUint(out, m.uid)
		uidLine = len(out)
		out = append(out, '\n')
	}
	if !haveStatus && flags&(Seen|flagNonRecent) != 0 {
		out = append(out, "Status: "...)
		out = appendStatusLetters(out, flags, false)
		out = append(out, '\n')
	}
	if !haveXStatus && flags&(Answered|Flagged|Draft|Deleted) != 0 {
		out = append(out, "X-Status: "...)
		out = appendStatusLetters(out, flags, true)
		out = append(out, '\n')
	}
	if !seenKw && len(m.kw) > 0 {
		out = append(out, "X-Keywords: "...)
		out = mb.appendKeywords(out, m.kw)
		kwLine = len(out)
		out = append(out, '\n')
	}
	if !seenCL && m.end-m.bodyOff >= minContentLength {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, m.end-m.bodyOff, 10)
		out = append(out, '\n')
	}
	if pad < 0 {
		// No line kept its padding: Dovecot pads X-Keywords, else X-UID.
		if kwLine >= 0 {
			pad = kwLine
		} else {
			pad = uidLine
		}
	}
	if m.haveEOH {
		out = append(out, '\n')
	}
	return builtHeader{b: out, pad: pad}
}

func (mb *Mailbox) appendKeywords(dst []byte, kw []int) []byte {
	for i, k := range kw {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, mb.keywords[k]...)
	}
	return dst
}

// appendBase writes an X-IMAPbase value: UIDVALIDITY, uid-last in 10
// digits, then the keyword list.
func (mb *Mailbox) appendBase(dst []byte) []byte {
	dst = appendUint(dst, mb.uidValidity)
	dst = append(dst, ' ')
	dst = appendUID10(dst, mb.nextUID-1)
	for _, k := range mb.keywords {
		dst = append(dst, ' ')
		dst = append(dst, k...)
	}
	return dst
}

// fit pads h to exactly size bytes when it is not longer; it reports false
// when h does not fit (or has nowhere to put blanks).
func (h builtHeader) fit(size int) ([]byte, bool) {
	n := len(h.b)
	if n == size {
		return h.b, true
	}
	if n > size || h.pad < 0 {
		return nil, false
	}
	return padAt(h.b, h.pad, size-n), true
}

// grown returns h with Dovecot's 50 blanks of padding.
func (h builtHeader) grown() []byte {
	if h.pad < 0 {
		return h.b
	}
	return padAt(h.b, h.pad, headerPadding)
}

func padAt(b []byte, at, n int) []byte {
	out := make([]byte, 0, len(b)+n)
	out = append(out, b[:at]...)
	for range n {
		out = append(out, ' ')
	}
	return append(out, b[at:]...)
}

// needsWrite reports whether the message's header in the file no longer
// says what we hold.
func (m *msg) needsWrite(dropRecent bool) bool {
	if m.dirty || m.flags != m.hdrFlags || !slices.Equal(m.kw, m.hdrKw) {
		return true
	}
	return dropRecent && !m.pseudo && m.flags&flagNonRecent == 0
}
