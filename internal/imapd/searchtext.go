// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	// Unknown charsets are searched as they are.
	return r, nil
}}

// decodedHeader is a header value with RFC 2047 words decoded, as
// Dovecot searches headers.
func decodedHeader(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// searchBody returns the decoded text of every leaf part (base64 and
// quoted-printable undone), which is what Dovecot's BODY and TEXT search
// look at.
func searchBody(e entity, digest bool) []byte {
	h := parseHeader(e.hdr)
	ct := parseContentType(h, digest)
	var out bytes.Buffer
	switch {
	case ct.is("multipart", ""):
		for _, c := range children(e.body, ct.params["boundary"]) {
			out.Write(searchBody(splitEntity(c), ct.is("multipart", "digest")))
			out.WriteByte('\n')
		}
	case ct.is("message", "rfc822"):
		inner := splitEntity(e.body)
		out.WriteString(searchHeader(inner.hdr))
		out.Write(searchBody(inner, false))
	default:
		out.Write(decodeCTE(h.Get("Content-Transfer-Encoding"), e.body))
	}
	return out.Bytes()
}

// searchHeader is a header's fields with decoded values, one per line.
func searchHeader(hdr []byte) string {
	var b strings.Builder
	h := parseHeader(hdr)
	fields := h.Fields()
	for fields.Next() {
		b.WriteString(fields.Key())
		b.WriteString(": ")
		b.WriteString(decodedHeader(fields.Value()))
		b.WriteByte('\n')
	}
	return b.String()
}

func decodeCTE(cte string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, _ := base64.StdEncoding.Decode(out, clean)
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil && len(out) == 0 {
			return body
		}
		return out
	}
	return body
}
