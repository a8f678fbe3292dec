// SPDX-License-Identifier: MIT

package remote

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// To7Bit converts a MIME message for a server without 8BITMIME, as
// Sendmail's mime8to7 does: every leaf part whose
// Content-Transfer-Encoding is 8bit (or missing) and whose body has 8-bit
// bytes is re-encoded as quoted-printable, recursing into multiparts. A
// message without MIME-Version is passed as it is (EightBitMode=pass,
// Debian's default). The message is read whole.
func To7Bit(r io.Reader) (io.Reader, error) {
	msg, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	hdr, sep, body := splitHeader(msg)
	if headerValue(hdr, "MIME-Version") == "" {
		return bytes.NewReader(msg), nil
	}
	var out bytes.Buffer
	convertPart(&out, hdr, sep, body)
	return &out, nil
}

// splitHeader splits at the first empty line: hdr keeps its final line
// end, sep is the empty line ("" when there is none) and body follows.
func splitHeader(b []byte) (hdr, sep, body []byte) {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b, nil, nil
		}
		line := b[i : i+j+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return b[:i], line, b[i+j+1:]
		}
		i += j + 1
	}
	return b, nil, nil
}

// headerValue returns the unfolded value of the first field name.
func headerValue(hdr []byte, name string) string {
	lines := strings.Split(string(hdr), "\n")
	for i := 0; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			i++
			v += " " + strings.TrimSpace(lines[i])
		}
		return strings.TrimSpace(strings.TrimRight(v, "\r"))
	}
	return ""
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func convertPart(out *bytes.Buffer, hdr, sep, body []byte) {
	crlf := bytes.Contains(hdr, []byte("\r\n"))
	nl := "\n"
	if crlf {
		nl = "\r\n"
	}
	mt, params, _ := mime.ParseMediaType(headerValue(hdr, "Content-Type"))
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		out.Write(hdr)
		out.Write(sep)
		delim := []byte("--" + params["boundary"])
		parts := bytes.Split(body, delim)
		out.Write(parts[0])
		for _, p := range parts[1:] {
			out.Write(delim)
			if bytes.HasPrefix(p, []byte("--")) {
				out.Write(p)
				continue
			}
			// p is the rest of the delimiter line, then the part, then
			// the line end before the next delimiter.
			eol := bytes.IndexByte(p, '\n')
			if eol < 0 {
				out.Write(p)
				continue
			}
			out.Write(p[:eol+1])
			part := p[eol+1:]
			tail := []byte{}
			if bytes.HasSuffix(part, []byte("\r\n")) {
				part, tail = part[:len(part)-2], []byte("\r\n")
			} else if bytes.HasSuffix(part, []byte("\n")) {
				part, tail = part[:len(part)-1], []byte("\n")
			}
			ph, ps, pb := splitHeader(part)
			convertPart(out, ph, ps, pb)
			out.Write(tail)
		}
		return
	}
	cte := strings.ToLower(headerValue(hdr, "Content-Transfer-Encoding"))
	if (cte != "" && cte != "8bit" && cte != "7bit") || !has8bit(body) {
		out.Write(hdr)
		out.Write(sep)
		out.Write(body)
		return
	}
	writeHeaderCTE(out, hdr, nl)
	out.WriteString(nl)
	lines := strings.SplitAfter(string(body), "\n")
	qw := quotedprintable.NewWriter(out)
	for _, l := range lines {
		text := strings.TrimRight(l, "\r\n")
		qw.Write([]byte(text))
		if len(text) < len(l) {
			// A hard line break: quotedprintable writes CRLF, turn it
			// into the message's own line end below.
			qw.Write([]byte("\r\n"))
		}
	}
	qw.Close()
	if !crlf {
		b := bytes.ReplaceAll(out.Bytes(), []byte("\r\n"), []byte("\n"))
		out.Reset()
		out.Write(b)
	}
}

// writeHeaderCTE copies hdr with Content-Transfer-Encoding set to
// quoted-printable (replaced, or added at the end).
func writeHeaderCTE(out *bytes.Buffer, hdr []byte, nl string) {
	lines := strings.SplitAfter(string(hdr), "\n")
	done := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l == "" {
			continue
		}
		k, _, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Content-Transfer-Encoding") {
			for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
				i++
			}
			out.WriteString(strings.TrimSpace(k) + ": quoted-printable" + nl)
			done = true
			continue
		}
		out.WriteString(l)
	}
	if !done {
		out.WriteString("Content-Transfer-Encoding: quoted-printable" + nl)
	}
}
