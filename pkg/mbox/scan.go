// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrNotMbox is returned for a file that does not start with a valid From_
// line; Dovecot answers "Mailbox isn't a valid mbox file" and leaves it alone.
var ErrNotMbox = errors.New("mailbox isn't a valid mbox file")

// rawMsg is one message as the scanner found it. Offsets are file offsets:
// the From_ line starts at fromOff, the header at hdrOff, the body at
// bodyOff and the message ends (before the separator's [CR]LF) at end.
type rawMsg struct {
	fromOff, hdrOff, bodyOff, end int64
	haveEOH                       bool
	sender                        string
	date                          time.Time
	hdr                           []byte // header bytes [hdrOff, bodyOff)
	bodyLF, bodyCRLF              int64  // line ends inside [bodyOff, end)
}

// scanner walks an mbox file sequentially with Dovecot's separator rules.
// It keeps only the current message's header in memory.
type scanner struct {
	ra   io.ReaderAt
	dr   *directReader // set for a large, mostly uncached file
	size int64
	loc  *time.Location
	br   *bufio.Reader
	pos  int64 // file offset of the next byte br returns

	started bool
	next    []byte // pending From_ line of the next message (text after "From ")
	nextOff int64
	err     error
	maxHdr  int

	clLF, clCRLF int64
	atEOF        bool // the last line read ended at EOF without LF
	hdrBuf       []byte
}

const scanBufSize = 256 << 10

func newScanner(ra io.ReaderAt, start, size int64, loc *time.Location) *scanner {
	s := &scanner{ra: ra, size: size, loc: loc, maxHdr: 1 << 20}
	if f, ok := ra.(*os.File); ok {
		s.dr = newDirectReader(f, start, size)
	}
	s.seek(start)
	return s
}

// close releases the O_DIRECT descriptor, if any.
func (s *scanner) close() {
	if s.dr != nil {
		s.dr.Close()
	}
}

func (s *scanner) seek(off int64) {
	var r io.Reader
	if s.dr != nil {
		s.dr.reset(off)
		r = s.dr
	} else {
		r = io.NewSectionReader(s.ra, off, s.size-off)
	}
	if s.br == nil {
		s.br = bufio.NewReaderSize(r, scanBufSize)
	} else {
		s.br.Reset(r)
	}
	s.pos = off
}

// readLine returns the next line (with its LF) and whether it starts at a
// line start; lines longer than the buffer come in pieces and only the first
// piece is a line start. The slice is valid until the next read.
func (s *scanner) readLine() (line []byte, err error) {
	line, err = s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		err = nil
	}
	s.pos += int64(len(line))
	if err == io.EOF && len(line) > 0 {
		// The last line has no LF.
		s.atEOF = true
		err = nil
	}
	return line, err
}

// firstLine reads the first From_ line of the scan range.
func (s *scanner) firstLine() error {
	s.started = true
	off := s.pos
	line, err := s.readLine()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return err
	}
	full := line
	for len(line) > 0 && line[len(line)-1] != '\n' {
		// Overlong From_ line: parse what we have, skip the rest.
		more, err := s.readLine()
		if err != nil || len(more) == 0 {
			break
		}
		if len(full) < 4096 {
			full = append(append([]byte(nil), full...), more...)
		}
		line = more
	}
	// Without its LF a From_ line never completes (Dovecot waits for it).
	if !bytes.HasPrefix(full, []byte("From ")) || full[len(full)-1] != '\n' {
		return ErrNotMbox
	}
	if _, _, ok := parseFromLine(full[5:], s.loc); !ok {
		return ErrNotMbox
	}
	s.next = append(s.next[:0], full[5:]...)
	s.nextOff = off
	return nil
}

// Next returns the next message, or io.EOF.
func (s *scanner) Next() (*rawMsg, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !s.started {
		if err := s.firstLine(); err != nil {
			s.err = err
			return nil, err
		}
	}
	if s.next == nil {
		s.err = io.EOF
		return nil, io.EOF
	}
	m := &rawMsg{fromOff: s.nextOff, hdrOff: s.pos, bodyOff: -1}
	m.sender, m.date, _ = parseFromLine(s.next, s.loc)
	s.next = nil

	var (
		hdr       = s.hdrBuf[:0]
		inHeader  = true
		lineStart = true
		prevCR    bool  // the previous line ended in CRLF
		clValue   int64 = -1
	)
	for {
		off := s.pos
		line, err := s.readLine()
		if err == io.EOF || (err == nil && len(line) == 0) {
			// End of file: the final [CR]LF is the trailer, not message data.
			m.end = s.size
			if s.size > m.hdrOff && s.byteAt(s.size-1) == '\n' {
				m.end--
				if !inHeader {
					m.bodyLF--
				}
				if m.end > m.hdrOff && s.byteAt(m.end-1) == '\r' {
					m.end--
					if !inHeader {
						m.bodyCRLF--
					}
				}
			}
			s.finish(m, hdr)
			return m, nil
		}
		if err != nil {
			s.err = fmt.Errorf("read mbox: %w", err)
			return nil, s.err
		}
		isStart := lineStart
		lineStart = line[len(line)-1] == '\n'
		if isStart && off > m.hdrOff && len(line) >= 5 && line[0] == 'F' && bytes.HasPrefix(line, []byte("From ")) && (lineStart || !s.atEOF) {
			full := line
			if !lineStart {
				// Need the rest of the line to judge it; copy what we have.
				full = append([]byte(nil), line...)
			}
			if _, _, ok := parseFromLine(full[5:], s.loc); ok {
				m.end = off - 1
				if !inHeader {
					m.bodyLF--
				}
				if prevCR && m.end-1 >= m.hdrOff {
					m.end--
					if !inHeader {
						m.bodyCRLF--
					}
				}
				s.next = append([]byte(nil), full[5:]...)
				s.nextOff = off
				if !lineStart {
					s.skipRestOfLine()
				}
				s.finish(m, hdr)
				return m, nil
			}
		}
		prevCR = lineStart && len(line) >= 2 && line[len(line)-2] == '\r'
		if inHeader {
			if isStart && (len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n') {
				inHeader = false
				m.bodyOff = s.pos
				hdr = append(hdr, line...)
				if clValue < 0 {
					clValue = contentLength(hdr)
				}
				if clValue >= 0 {
					if end, ok := s.checkContentLength(m.bodyOff, clValue); ok {
						m.end = end
						m.bodyLF, m.bodyCRLF = s.clLF, s.clCRLF
						s.finish(m, hdr)
						return m, nil
					}
				}
				prev := byte('\n')
				if len(line) == 2 {
					prev = '\r'
				}
				if err := s.scanBody(m, prev); err != nil {
					s.err = err
					return nil, err
				}
				s.finish(m, hdr)
				return m, nil
			}
			if len(hdr) < s.maxHdr {
				hdr = append(hdr, line...)
			}
			continue
		}
		if lineStart {
			m.bodyLF++
			if prevCR {
				m.bodyCRLF++
			}
		}
	}
}

func (s *scanner) skipRestOfLine() {
	for {
		line, err := s.readLine()
		if err != nil || len(line) == 0 || line[len(line)-1] == '\n' {
			return
		}
	}
}

func (s *scanner) byteAt(off int64) byte {
	var b [1]byte
	if _, err := s.ra.ReadAt(b[:], off); err != nil {
		return 0
	}
	return b[0]
}

// finish fixes the body offset when the header had no terminating blank line
// (or when that blank line turned out to be the separator) and keeps the
// header bytes.
func (s *scanner) finish(m *rawMsg, hdr []byte) {
	if m.bodyOff < 0 || m.bodyOff > m.end {
		m.bodyOff = m.end
		m.haveEOH = false
		m.bodyLF, m.bodyCRLF = 0, 0
	} else {
		m.haveEOH = true
	}
	n := m.bodyOff - m.hdrOff
	if int64(len(hdr)) > n {
		hdr = hdr[:n]
	}
	m.hdr = hdr
	s.hdrBuf = hdr[:0] // reused: rawMsg.hdr is valid until the next Next
}

// checkContentLength reports whether a Content-Length of n lands exactly on
// the file's final newline or on a valid From_ line, as Dovecot requires
// before trusting it; if so the scanner continues after that point.
func (s *scanner) checkContentLength(bodyOff, n int64) (int64, bool) {
	off := bodyOff + n
	if off > s.size || off < bodyOff {
		return 0, false
	}
	rest := s.size - off
	var buf [512]byte
	k, _ := s.ra.ReadAt(buf[:min(int64(len(buf)), rest)], off)
	b := buf[:k]
	if rest == 1 && b[0] == '\n' || rest == 2 && b[0] == '\r' && b[1] == '\n' {
		s.seek(s.size)
		s.countLF(bodyOff, off)
		return off, true
	}
	var skip int
	switch {
	case rest > 31 && bytes.HasPrefix(b, []byte("\nFrom ")):
		skip = 1
	case rest > 32 && bytes.HasPrefix(b, []byte("\r\nFrom ")):
		skip = 2
	default:
		return 0, false
	}
	line := b[skip:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i+1]
	}
	if _, _, ok := parseFromLine(line[5:], s.loc); !ok {
		return 0, false
	}
	// Continue scanning at the From_ line.
	s.countLF(bodyOff, off)
	s.seek(off + int64(skip))
	line2, err := s.readLine()
	if err != nil {
		return 0, false
	}
	full := append([]byte(nil), line2...)
	if full[len(full)-1] != '\n' {
		s.skipRestOfLine()
	}
	s.next = full[5:]
	s.nextOff = off + int64(skip)
	return off, true
}

// countLF counts the line ends of a body that a trusted Content-Length let
// the scanner skip, for the message size.
func (s *scanner) countLF(from, to int64) {
	s.clLF, s.clCRLF = 0, 0
	buf := make([]byte, 64<<10)
	prev := byte(0)
	for off := from; off < to; {
		n, err := s.ra.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		for _, c := range buf[:n] {
			if c == '\n' {
				s.clLF++
				if prev == '\r' {
					s.clCRLF++
				}
			}
			prev = c
		}
		off += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
}

// contentLength returns the value of the first well-formed Content-Length
// header in hdr, or -1.
func contentLength(hdr []byte) int64 {
	var scratch [32]hline
	for _, h := range splitHeaderInto(scratch[:0], hdr) {
		if h.kind != hdrContentLength {
			continue
		}
		if v, ok := parseDigitsLWSP(h.value(hdr)); ok {
			return v
		}
		// Dovecot drops a broken one and keeps looking.
	}
	return -1
}

// parseDigitsLWSP parses leading digits followed only by whitespace.
func parseDigitsLWSP(v []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(v) && isDigit(v[i]); i++ {
		n = n*10 + int64(v[i]-'0')
		if n > 1<<50 {
			return 0, false
		}
	}
	for ; i < len(v); i++ {
		if !isLWSPLF(v[i]) {
			return 0, false
		}
	}
	return n, true
}

func isLWSP(c byte) bool   { return c == ' ' || c == '\t' }
func isLWSPLF(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

var fromSep = []byte("\nFrom ")

// scanBody finds the end of a message body: the next "\nFrom " that starts a
// valid From_ line, or the end of the file. It works on the reader's buffer
// with bytes.Index instead of line by line, counting line ends for the size.
// The scanner stands at a line start; prev is the byte before the LF that
// ended the previous line.
func (s *scanner) scanBody(m *rawMsg, prev byte) error {
	last := byte('\n') // last consumed byte
	consume := func(b []byte) {
		if len(b) == 0 {
			return
		}
		m.bodyLF += int64(bytes.Count(b, []byte{'\n'}))
		m.bodyCRLF += int64(bytes.Count(b, []byte("\r\n")))
		if last == '\r' && b[0] == '\n' {
			m.bodyCRLF++
		}
		if len(b) >= 2 {
			prev = b[len(b)-2]
		} else {
			prev = last
		}
		last = b[len(b)-1]
		s.br.Discard(len(b))
		s.pos += int64(len(b))
	}
	for {
		// Refill only when little is left: bufio moves the unread rest to
		// the front on every fill.
		want := s.br.Buffered()
		if want < 8192 {
			want = s.br.Size()
		}
		buf, err := s.br.Peek(want)
		if len(buf) == 0 {
			if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
				return fmt.Errorf("read mbox: %w", err)
			}
			// End of file: the final [CR]LF is the trailer.
			m.end = s.size
			if s.size > m.hdrOff && last == '\n' {
				m.end--
				m.bodyLF--
				if m.end > m.hdrOff && prev == '\r' {
					m.end--
					m.bodyCRLF--
				}
			}
			return nil
		}
		eof := err != nil && err != bufio.ErrBufferFull
		full := len(buf) == s.br.Size() || want < s.br.Size()
		// Candidates: line starts beginning with "From ".
		from := 0
		if last != '\n' || !bytes.HasPrefix(buf, fromSep[1:]) {
			i := bytes.Index(buf, fromSep)
			if i < 0 {
				// Keep a possible partial "\nFrom" for the next round.
				k := bytes.LastIndexByte(buf, '\n')
				if eof || k <= 0 {
					consume(buf)
				} else {
					consume(buf[:k])
				}
				continue
			}
			from = i + 1
		}
		line := buf[from:]
		lineEnd := bytes.IndexByte(line, '\n')
		if lineEnd < 0 && !eof && len(buf) < s.br.Size() {
			// Not all of the line is buffered: move it to the front.
			if from == 0 {
				// Already at the front and the buffer is not full: the
				// read returned short; read again.
				if _, err := s.br.Peek(len(buf) + 1); err != nil && err != bufio.ErrBufferFull && err != io.EOF {
					return fmt.Errorf("read mbox: %w", err)
				}
				if s.br.Buffered() == len(buf) {
					eof = true
				} else {
					continue
				}
			} else {
				consume(buf[:from])
				continue
			}
		}
		if lineEnd < 0 && from > 0 && full {
			consume(buf[:from])
			continue
		}
		if lineEnd < 0 && from == 0 && want < s.br.Size() {
			// The line may go on beyond what is buffered: refill.
			if _, err := s.br.Peek(min(s.br.Size(), len(buf)+1)); err == nil || err == bufio.ErrBufferFull {
				if s.br.Buffered() > len(buf) {
					continue
				}
			}
			eof = true
		}
		valid := false
		if lineEnd >= 0 {
			_, _, valid = parseFromLine(line[5:lineEnd+1], s.loc)
		} else if !eof {
			// Overlong From_ line filling the buffer: judge what we have.
			_, _, valid = parseFromLine(line[5:], s.loc)
		}
		if !valid {
			consume(buf[:from+1])
			continue
		}
		// A separator: the message ends before its [CR]LF.
		consume(buf[:from])
		m.end = s.pos - 1
		m.bodyLF--
		if prev == '\r' && m.end-1 >= m.hdrOff {
			m.end--
			m.bodyCRLF--
		}
		off := s.pos
		l, err := s.readLine()
		if err != nil {
			return fmt.Errorf("read mbox: %w", err)
		}
		fl := append([]byte(nil), l...)
		if fl[len(fl)-1] != '\n' {
			s.skipRestOfLine()
		}
		s.next = fl[5:]
		s.nextOff = off
		return nil
	}
}
