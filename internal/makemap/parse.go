// SPDX-License-Identifier: MIT

package makemap

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// lineBuf is the size of makemap's input buffer. fgets fills at most
// lineBuf-1 bytes, so the longest line accepted is lineBuf-2 bytes plus the
// newline; whatever is left of a longer physical line is read as the next
// "line".
const lineBuf = 1024

// SyntaxOptions are the flags that change how a source line is split.
type SyntaxOptions struct {
	// Comment starts a comment line when it is a line's first byte
	// (-D; '#' by default). 0 means none: a line starting with a NUL is
	// empty anyway.
	Comment byte
	// Sep is the key/value delimiter (-t); 0 means any run of white
	// space, where a line may not start with white space.
	Sep byte
	// KeepCase keeps upper-case ASCII in keys (-f).
	KeepCase bool
	// AllowEmpty accepts a line without a value (-e).
	AllowEmpty bool
	// IncludeNull stores key and value with a trailing NUL (-N).
	IncludeNull bool
}

// LineKind tells what ParseLine found in a line.
type LineKind int

// The outcomes of ParseLine, each with the message makemap prints for it.
const (
	LineRecord    LineKind = iota // a key and a value
	LineSkip                      // empty or a comment
	LineTooLong                   // "line too long (1024 bytes max)"
	LineLeadSpace                 // "syntax error (leading space)"
	LineNoRHS                     // "no RHS for LHS <key>"
)

// Line is one chunk of input as makemap's fgets loop sees it.
type Line struct {
	// Text is the chunk without its newline, NUL bytes included.
	Text []byte
	// Complete is false for a chunk that neither ended in a newline (before
	// any NUL byte) nor was the last one before end of file.
	Complete bool
}

// Scanner cuts makemap source into the chunks fgets(buf, 1024) returns,
// numbered as makemap numbers them.
type Scanner struct {
	r    *bufio.Reader
	line Line
	n    int
	err  error
	buf  []byte
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: bufio.NewReaderSize(r, 64*1024), buf: make([]byte, 0, lineBuf)}
}

// Scan advances to the next chunk and reports whether there is one.
func (s *Scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	s.buf = s.buf[:0]
	eof := false
	for len(s.buf) < lineBuf-1 {
		c, err := s.r.ReadByte()
		if err != nil {
			if err != io.EOF {
				s.err = err
			}
			eof = true
			break
		}
		s.buf = append(s.buf, c)
		if c == '\n' {
			break
		}
	}
	if len(s.buf) == 0 {
		if s.err == nil {
			s.err = io.EOF
		}
		return false
	}
	s.n++
	// strchr stops at the first NUL: a newline after a NUL is not seen.
	text := s.buf
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	if j := bytes.IndexByte(text, '\n'); j >= 0 {
		s.line = Line{Text: s.buf[:j], Complete: true}
	} else {
		// feof is set only when fgets itself hit end of file; a chunk
		// that filled the buffer stops short of that.
		t := s.buf
		if n := len(t); n > 0 && t[n-1] == '\n' {
			t = t[:n-1]
		}
		s.line = Line{Text: t, Complete: eof}
	}
	return true
}

// Line returns the current chunk; its Text is valid until the next Scan.
func (s *Scanner) Line() Line { return s.line }

// LineNo returns the current chunk's number, counting from 1.
func (s *Scanner) LineNo() int { return s.n }

// Err returns the first read error other than end of file.
func (s *Scanner) Err() error {
	if s.err == io.EOF {
		return nil
	}
	return s.err
}

// isSpace is C's isspace in the C locale, which makemap applies after
// isascii.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// ParseLine splits one chunk as makemap does. It returns the key and value
// to store (with the trailing NUL of -N), or the kind of problem. For
// LineNoRHS, key holds the key as makemap prints it. The returned slices
// are fresh copies.
func ParseLine(l Line, o SyntaxOptions) (kind LineKind, key, val []byte) {
	if !l.Complete {
		return LineTooLong, nil, nil
	}
	// Everything works on the C string: the text up to its first NUL.
	s := l.Text
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if len(s) == 0 || s[0] == o.Comment {
		return LineSkip, nil, nil
	}
	if o.Sep == 0 && isSpace(s[0]) {
		return LineLeadSpace, nil, nil
	}
	isSep := func(c byte) bool {
		if o.Sep == 0 {
			return isSpace(c)
		}
		return c == o.Sep
	}
	i := 0
	for i < len(s) && !isSep(s[i]) {
		i++
	}
	key = make([]byte, i, i+1)
	copy(key, s[:i])
	if !o.KeepCase {
		for j, c := range key {
			if 'A' <= c && c <= 'Z' {
				key[j] = c + 'a' - 'A'
			}
		}
	}
	if i < len(s) {
		i++ // the separator makemap overwrote with the key's NUL
	}
	for i < len(s) && isSep(s[i]) {
		i++
	}
	if i == len(s) && !o.AllowEmpty {
		return LineNoRHS, key, nil
	}
	val = make([]byte, len(s)-i, len(s)-i+1)
	copy(val, s[i:])
	if o.IncludeNull {
		key = append(key, 0)
		val = append(val, 0)
	}
	return LineRecord, key, val
}

// Message returns the text makemap prints after "makemap: MAP: line N: "
// for a problem kind; key is ParseLine's key.
func (k LineKind) Message(key []byte) string {
	switch k {
	case LineTooLong:
		return fmt.Sprintf("line too long (%d bytes max)", lineBuf)
	case LineLeadSpace:
		return "syntax error (leading space)"
	case LineNoRHS:
		return "no RHS for LHS " + string(key)
	}
	return ""
}
