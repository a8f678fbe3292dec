// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"strconv"
)

type hdrKind uint8

const (
	hdrOther hdrKind = iota
	hdrContentLength
	hdrStatus
	hdrXIMAP
	hdrXIMAPbase
	hdrXKeywords
	hdrXStatus
	hdrXUID
)

// hiddenKinds are Dovecot's mbox_hide_headers: never shown to clients.
func (k hdrKind) hidden() bool { return k != hdrOther }

// headerKind recognises Dovecot's private header names, case-insensitively,
// without allocating.
func headerKind(name []byte) hdrKind {
	eq := func(s string) bool { return bytes.EqualFold(name, []byte(s)) }
	switch len(name) {
	case 5:
		if eq("x-uid") {
			return hdrXUID
		}
	case 6:
		if eq("status") {
			return hdrStatus
		}
		if eq("x-imap") {
			return hdrXIMAP
		}
	case 8:
		if eq("x-status") {
			return hdrXStatus
		}
	case 10:
		if eq("x-imapbase") {
			return hdrXIMAPbase
		}
		if eq("x-keywords") {
			return hdrXKeywords
		}
	case 14:
		if eq("content-length") {
			return hdrContentLength
		}
	}
	return hdrOther
}

// hline is one logical header field (with its continuation lines) inside a
// header block: bytes [start, end) including the final line end; the value
// starts at valStart (after the colon and following blanks).
type hline struct {
	start, valStart, end int
	kind                 hdrKind
}

// value returns the field value without the final line end.
func (h hline) value(hdr []byte) []byte {
	v := hdr[h.valStart:h.end]
	if len(v) > 0 && v[len(v)-1] == '\n' {
		v = v[:len(v)-1]
		if len(v) > 0 && v[len(v)-1] == '\r' {
			v = v[:len(v)-1]
		}
	}
	return v
}

// splitHeader splits a header block (as stored in the file, possibly ending
// with the blank line) into fields. The blank line is not returned.
func splitHeader(hdr []byte) []hline {
	return splitHeaderInto(nil, hdr)
}

// splitHeaderInto is splitHeader appending to out (for reuse).
func splitHeaderInto(out []hline, hdr []byte) []hline {
	out = out[:0]
	i := 0
	for i < len(hdr) {
		if hdr[i] == '\n' || (hdr[i] == '\r' && i+1 < len(hdr) && hdr[i+1] == '\n') {
			break // end of header
		}
		start := i
		e := lineEnd(hdr, i)
		for e < len(hdr) && (hdr[e] == ' ' || hdr[e] == '\t') {
			e = lineEnd(hdr, e)
		}
		h := hline{start: start, end: e, valStart: e}
		line := hdr[start:e]
		if c := bytes.IndexByte(line, ':'); c > 0 {
			h.kind = headerKind(bytes.TrimRight(line[:c], " \t"))
			v := start + c + 1
			for v < e && (hdr[v] == ' ' || hdr[v] == '\t') {
				v++
			}
			h.valStart = v
		}
		out = append(out, h)
		i = e
	}
	return out
}

func lineEnd(b []byte, i int) int {
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

// trailingSpace counts the blanks at the end of a field value.
func trailingSpace(v []byte) int {
	n := 0
	for i := len(v) - 1; i >= 0 && isLWSP(v[i]); i-- {
		n++
	}
	return n
}

// Status and X-Status letters in the order Dovecot writes them.
const (
	statusLetters  = "RO"
	xstatusLetters = "AFTD"
)

func statusFlag(c byte) Flag {
	switch c {
	case 'R':
		return Seen
	case 'O':
		return flagNonRecent
	}
	return 0
}

func xstatusFlag(c byte) Flag {
	switch c {
	case 'A':
		return Answered
	case 'F':
		return Flagged
	case 'T':
		return Draft
	case 'D':
		return Deleted
	}
	return 0
}

// parseStatusValue returns the flags a Status or X-Status value sets and
// whether a letter repeats (Dovecot then rewrites the header).
func parseStatusValue(v []byte, x bool) (f Flag, dup bool) {
	for _, c := range v {
		var g Flag
		if x {
			g = xstatusFlag(c)
		} else {
			g = statusFlag(c)
		}
		if g == 0 {
			continue
		}
		if f&g != 0 {
			dup = true
		}
		f |= g
	}
	return f, dup
}

func appendStatusLetters(dst []byte, f Flag, x bool) []byte {
	letters := statusLetters
	if x {
		letters = xstatusLetters
	}
	for i := 0; i < len(letters); i++ {
		var g Flag
		if x {
			g = xstatusFlag(letters[i])
		} else {
			g = statusFlag(letters[i])
		}
		if f&g != 0 {
			dst = append(dst, letters[i])
		}
	}
	return dst
}

// imapBase is a parsed X-IMAPbase / X-IMAP value.
type imapBase struct {
	uidValidity uint32
	uidLast     uint32
	tenDigits   bool // uid-last written with exactly 10 digits
	lastPos     int  // offset of uid-last within the value
	keywords    []string
}

// parseIMAPBase parses "<uidvalidity> <uidlast> [keywords...]" like
// Dovecot's parse_x_imap_base.
func parseIMAPBase(v []byte) (imapBase, bool) {
	var b imapBase
	i := 0
	var uv uint64
	for ; i < len(v); i++ {
		if !isDigit(v[i]) {
			if v[i] != ' ' {
				return b, false
			}
			break
		}
		uv = uv*10 + uint64(v[i]-'0')
		if uv > 0xffffffff {
			uv = 0xffffffff + 1
		}
	}
	if uv == 0 || uv > 0xffffffff {
		return b, false
	}
	b.uidValidity = uint32(uv)
	for ; i < len(v) && isLWSPLF(v[i]); i++ {
	}
	b.lastPos = i
	var ul uint64
	j := 0
	for ; i < len(v); i, j = i+1, j+1 {
		if !isDigit(v[i]) {
			if !isLWSPLF(v[i]) {
				return b, false
			}
			break
		}
		ul = ul*10 + uint64(v[i]-'0')
		if ul > 0xffffffff {
			ul = 0xffffffff
		}
	}
	b.uidLast = uint32(ul)
	b.tenDigits = j == 10
	b.keywords = splitWords(v[i:])
	return b, true
}

func splitWords(v []byte) []string {
	var out []string
	for _, w := range bytes.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		out = append(out, string(w))
	}
	return out
}

// validKeyword follows IMAP's atom rules for flag-keywords, which is what
// Dovecot's mailbox_keyword_is_valid checks.
func validKeyword(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`(){%*"\]`), c) >= 0 {
			return false
		}
	}
	return k[0] != '\\'
}

func appendUint(dst []byte, v uint32) []byte { return strconv.AppendUint(dst, uint64(v), 10) }

func appendUID10(dst []byte, v uint32) []byte {
	s := strconv.FormatUint(uint64(v), 10)
	for i := len(s); i < 10; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
