// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// entity is a MIME entity of a message in IMAP form (CRLF line ends): its
// header including the blank line that ends it, and its body.
type entity struct {
	hdr, body []byte
}

// splitEntity splits at the first empty line, as Dovecot's message
// parser does; without one, everything is header.
func splitEntity(b []byte) entity {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return entity{hdr: b[:2], body: b[2:]}
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return entity{hdr: b[:i+4], body: b[i+4:]}
	}
	return entity{hdr: b, body: b[len(b):]}
}

// parseHeader reads a header leniently, like Dovecot: lines without a
// colon or with an invalid name are skipped instead of ending the header.
func parseHeader(hdr []byte) textproto.Header {
	var h textproto.Header
	var fields [][]byte
	for len(hdr) > 0 {
		i := bytes.Index(hdr, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:i+2], hdr[i+2:]
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] = append(fields[len(fields)-1], line...)
			continue
		}
		fields = append(fields, append([]byte(nil), line...))
	}
	for _, f := range fields {
		c := bytes.IndexByte(f, ':')
		if c <= 0 || !validName(f[:c]) {
			continue
		}
		h.AddRaw(f)
	}
	return h
}

func validName(b []byte) bool {
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

type contentType struct {
	typ, sub string // as written
	params   map[string]string
}

// parseContentType returns the Content-Type, with Dovecot's default
// text/plain; charset=us-ascii when missing or unparsable (and
// message/rfc822 inside multipart/digest).
func parseContentType(h textproto.Header, digest bool) contentType {
	v := h.Get("Content-Type")
	if v != "" {
		raw, _, _ := strings.Cut(v, ";")
		raw = strings.TrimSpace(raw)
		t, s, ok := strings.Cut(raw, "/")
		if _, params, err := mime.ParseMediaType(v); ok && t != "" && s != "" && err == nil {
			c := contentType{typ: strings.TrimSpace(t), sub: strings.TrimSpace(s), params: params}
			if _, has := params["charset"]; c.is("text", "") && !has {
				if c.params == nil {
					c.params = map[string]string{}
				}
				c.params["charset"] = "us-ascii"
			}
			return c
		}
	}
	if digest {
		return contentType{typ: "message", sub: "rfc822"}
	}
	return contentType{typ: "text", sub: "plain", params: map[string]string{"charset": "us-ascii"}}
}

func (c contentType) is(t, s string) bool {
	return strings.EqualFold(c.typ, t) && (s == "" || strings.EqualFold(c.sub, s))
}

// children splits a multipart body at its boundary; the CRLF before a
// boundary line belongs to the boundary (RFC 2046 §5.1.1).
func children(body []byte, boundary string) [][]byte {
	if boundary == "" {
		return nil
	}
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	pos := 0
	for pos <= len(body) {
		end := bytes.Index(body[pos:], []byte("\r\n"))
		lineEnd := len(body)
		next := len(body) + 1
		if end >= 0 {
			lineEnd = pos + end
			next = lineEnd + 2
		}
		line := body[pos:lineEnd]
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t")
			closing := bytes.Equal(rest, []byte("--"))
			if len(rest) == 0 || closing {
				if start >= 0 {
					stop := pos - 2
					if stop < start {
						stop = start
					}
					// Dovecot ends a nested multipart after its
					// closing line, CRLF included.
					if stop > start && nestedClosed(body[start:stop]) {
						stop = pos
					}
					parts = append(parts, body[start:stop])
				}
				if closing {
					return parts
				}
				start = min(next, len(body))
			}
		}
		if end < 0 {
			break
		}
		pos = next
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts
}

// nestedClosed reports whether a part is a multipart whose last line is
// its own closing delimiter.
func nestedClosed(part []byte) bool {
	e := splitEntity(part)
	ct := parseContentType(parseHeader(e.hdr), false)
	if !ct.is("multipart", "") || ct.params["boundary"] == "" {
		return false
	}
	return bytes.HasSuffix(bytes.TrimRight(e.body, " \t"), []byte("--"+ct.params["boundary"]+"--"))
}

// structure computes BODYSTRUCTURE of an entity as Dovecot does.
func structure(e entity, digest bool) imap.BodyStructure {
	h := parseHeader(e.hdr)
	ct := parseContentType(h, digest)
	if ct.is("multipart", "") {
		mp := &imap.BodyStructureMultiPart{Subtype: ct.sub}
		for _, c := range children(e.body, ct.params["boundary"]) {
			mp.Children = append(mp.Children, structure(splitEntity(c), ct.is("multipart", "digest")))
		}
		if len(mp.Children) == 0 {
			// Dovecot shows an empty multipart as one empty text part.
			mp.Children = append(mp.Children, structure(entity{}, false))
		}
		mp.Extended = &imap.BodyStructureMultiPartExt{
			Params: ct.params, Disposition: disposition(h), Language: languages(h),
			Location: h.Get("Content-Location"),
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type: ct.typ, Subtype: ct.sub, Params: ct.params,
		ID: h.Get("Content-Id"), Description: h.Get("Content-Description"),
		Encoding: strings.TrimSpace(h.Get("Content-Transfer-Encoding")),
		Size:     uint32(len(e.body)),
	}
	lines := int64(bytes.Count(e.body, []byte("\n")))
	switch {
	case ct.is("message", "rfc822"):
		inner := splitEntity(e.body)
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      envelope(parseHeader(inner.hdr)),
			BodyStructure: structure(inner, false),
			NumLines:      lines,
		}
	case ct.is("text", ""):
		sp.Text = &imap.BodyStructureText{NumLines: lines}
	}
	sp.Extended = &imap.BodyStructureSinglePartExt{
		Disposition: disposition(h), Language: languages(h), Location: h.Get("Content-Location"),
	}
	return sp
}

func disposition(h textproto.Header) *imap.BodyStructureDisposition {
	v := h.Get("Content-Disposition")
	if v == "" {
		return nil
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		raw, _, _ := strings.Cut(v, ";")
		d = strings.TrimSpace(raw)
	}
	return &imap.BodyStructureDisposition{Value: d, Params: params}
}

func languages(h textproto.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// findPart walks a section part path (RFC 3501 §6.4.5). It returns the
// part's entity (MIME header and body) and, for message/rfc822 parts and
// the top level, the encapsulated message.
func findPart(msg []byte, path []int) (part entity, inner entity, ok bool) {
	top := splitEntity(msg)
	cur := top    // the entity the path position refers to
	curMsg := top // the message whose body is being descended
	isMsg := true // cur is a whole message (top or rfc822 body)
	digest := false
	child := false // cur is a child of a multipart
	for _, n := range path {
		h := parseHeader(curMsg.hdr)
		ct := parseContentType(h, digest)
		if isMsg && !ct.is("multipart", "") {
			// A non-multipart message has one part: its body.
			if n != 1 {
				return entity{}, entity{}, false
			}
			cur = entity{hdr: curMsg.hdr, body: curMsg.body}
			isMsg, child = false, false
			if ct.is("message", "rfc822") {
				curMsg = splitEntity(cur.body)
				isMsg = true
				// The part itself keeps the outer header as MIME header.
				continue
			}
			curMsg = entity{}
			continue
		}
		if !ct.is("multipart", "") {
			// Part 1 of a single part inside a multipart is the part
			// itself (Dovecot).
			if n == 1 && !isMsg && child {
				continue
			}
			return entity{}, entity{}, false
		}
		kids := children(curMsg.body, ct.params["boundary"])
		if n < 1 || n > len(kids) {
			return entity{}, entity{}, false
		}
		digest = ct.is("multipart", "digest")
		cur = splitEntity(kids[n-1])
		child = true
		kct := parseContentType(parseHeader(cur.hdr), digest)
		switch {
		case kct.is("message", "rfc822"):
			curMsg, isMsg = splitEntity(cur.body), true
		case kct.is("multipart", ""):
			curMsg, isMsg = cur, false
			curMsg = cur
		default:
			curMsg, isMsg = entity{}, false
		}
		digest = false
		_ = isMsg
	}
	return cur, curMsg, true
}

// extractSection returns a body section's bytes.
func extractSection(msg []byte, s *imap.FetchItemBodySection) []byte {
	var out []byte
	if len(s.Part) == 0 {
		e := splitEntity(msg)
		out = specifier(e, s, msg)
	} else {
		part, inner, ok := findPart(msg, s.Part)
		if ok {
			switch s.Specifier {
			case imap.PartSpecifierNone:
				out = part.body
			case imap.PartSpecifierMIME:
				out = part.hdr
			default:
				out = specifier(inner, s, nil)
			}
		}
	}
	if s.Partial != nil {
		off := min(int64(len(out)), s.Partial.Offset)
		out = out[off:]
		if s.Partial.Size >= 0 && int64(len(out)) > s.Partial.Size {
			out = out[:s.Partial.Size]
		}
	}
	return out
}

func specifier(e entity, s *imap.FetchItemBodySection, whole []byte) []byte {
	switch s.Specifier {
	case imap.PartSpecifierNone:
		return whole
	case imap.PartSpecifierText:
		return e.body
	case imap.PartSpecifierHeader:
		if len(s.HeaderFields) > 0 || len(s.HeaderFieldsNot) > 0 {
			return headerFields(e.hdr, s.HeaderFields, s.HeaderFieldsNot)
		}
		return e.hdr
	}
	return nil
}

// headerFields keeps (or drops) the named fields, raw, and ends with the
// blank line, as Dovecot answers HEADER.FIELDS even when nothing matches.
func headerFields(hdr []byte, keep, drop []string) []byte {
	var out []byte
	var field []byte
	// FIELDS always ends with the blank line; FIELDS.NOT only when the
	// header had one, and keeps lines without a colon (Dovecot's
	// header filter).
	eoh := len(keep) > 0 || bytes.HasSuffix(hdr, []byte("\r\n\r\n")) || bytes.Equal(hdr, []byte("\r\n"))
	flush := func() {
		if len(field) == 0 {
			return
		}
		name, _, _ := bytes.Cut(field, []byte(":"))
		n := strings.TrimSpace(string(name))
		in := containsFold(keep, n)
		if len(keep) == 0 {
			in = !containsFold(drop, n)
		}
		if in && (bytes.IndexByte(field, ':') > 0 || len(keep) == 0) {
			out = append(out, field...)
		}
		field = nil
	}
	for len(hdr) > 0 {
		i := bytes.Index(hdr, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:i+2], hdr[i+2:]
		}
		if bytes.Equal(line, []byte("\r\n")) {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			field = append(field, line...)
			continue
		}
		flush()
		field = append([]byte(nil), line...)
	}
	flush()
	if eoh {
		out = append(out, '\r', '\n')
	}
	return out
}

// binarySection is RFC 3516's BINARY[part]: the part's content with its
// Content-Transfer-Encoding undone. A multipart part is returned as
// stored (Dovecot re-encodes its children as "binary"; not done here).
func binarySection(msg []byte, path []int, partial *imap.SectionPartial) []byte {
	var out []byte
	if len(path) == 0 {
		out = msg
	} else if part, _, ok := findPart(msg, path); ok {
		h := parseHeader(part.hdr)
		if parseContentType(h, false).is("multipart", "") {
			out = part.body
		} else {
			out = decodeCTE(h.Get("Content-Transfer-Encoding"), part.body)
		}
	}
	if partial != nil {
		off := min(int64(len(out)), partial.Offset)
		out = out[off:]
		if partial.Size >= 0 && int64(len(out)) > partial.Size {
			out = out[:partial.Size]
		}
	}
	return out
}
