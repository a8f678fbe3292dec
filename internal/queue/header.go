// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxHeader bounds the header ReadHeader accepts (sendmail's
// MaxHeadersLength is 32 KiB by default; callers enforce that).
const maxHeader = 1 << 20

// ErrHeaderTooLong is returned by ReadHeader for a header beyond 1 MiB.
var ErrHeaderTooLong = errors.New("header too long")

// ReadHeader splits a message as sendmail's collect does: it reads the
// header fields from br (CRLF or LF line ends, dots already unstuffed)
// and stops at the empty line that ends them, which it consumes, or at
// the first line that is not a header field, which it returns as rest:
// the start of the body, to be written to the df before the remainder of
// br. Header values keep the text after the colon as is, folds joined
// with "\n"; Cond is left empty for the caller (the SMTP server decides
// which of its own headers are conditional).
func ReadHeader(br *bufio.Reader) (hdr []Header, rest []byte, err error) {
	total := 0
	for {
		line, err := readLine(br)
		total += len(line)
		if total > maxHeader {
			return nil, nil, ErrHeaderTooLong
		}
		if err == io.EOF && len(line) == 0 {
			return hdr, nil, nil
		}
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
		var isBody, end bool
		hdr, isBody, end = headerLine(hdr, line)
		if isBody {
			return hdr, normalizeEOL(line), nil
		}
		if end || err == io.EOF {
			return hdr, nil, nil
		}
	}
}

// headerLine takes one line of a message header (with its line end, if
// any). It returns the fields so far, whether the line is not a header
// field and so starts the body, and whether the header has ended (at an
// empty line, which belongs to neither, or at the body).
func headerLine(hdr []Header, line []byte) (_ []Header, isBody, end bool) {
	text := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	switch {
	case len(text) == 0 && len(line) > 0 && line[len(line)-1] == '\n':
		return hdr, false, true
	case len(text) > 0 && len(hdr) > 0 && (text[0] == ' ' || text[0] == '\t'):
		hdr[len(hdr)-1].Value += "\n" + string(text)
		return hdr, false, false
	}
	name, value, ok := bytes.Cut(text, []byte(":"))
	if !ok || !fieldName(name) {
		return hdr, true, true
	}
	return append(hdr, Header{Name: string(name), Value: string(value)}), false, false
}

func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxHeader {
			return line, ErrHeaderTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}

// fieldName reports whether b is an RFC 5322 field name: printable ASCII
// without the colon (and, as sendmail accepts, no spaces).
func fieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func normalizeEOL(line []byte) []byte {
	if bytes.HasSuffix(line, []byte("\r\n")) {
		return append(line[:len(line)-2:len(line)-2], '\n')
	}
	return line
}
