// SPDX-License-Identifier: MIT

package imapd

import (
	"bufio"
	"bytes"
	"io"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// crlfReader turns the message as stored (LF line ends) into what IMAP
// clients see: CRLF line ends, NUL bytes as 0x80 (Dovecot's
// imap_msgpart/istream-crlf behaviour). A CR already before an LF is kept.
// It copies runs of ordinary bytes at once (FETCH BODY[] of a whole
// mailbox goes through it).
type crlfReader struct {
	r      io.Reader
	buf    []byte // raw bytes read, buf[off:] not yet converted
	off    int
	err    error
	prevCR bool // the last byte handed out was a CR
	pendLF bool // an LF is owed after the CR just handed out
}

var crlfBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16*1024); return &b }}

func newCRLFReader(r io.Reader) *crlfReader {
	return &crlfReader{r: r, buf: (*crlfBufs.Get().(*[]byte))[:0]}
}

// release gives the reader's buffer back for the next message; the reader
// must not be used afterwards.
func (c *crlfReader) release() {
	b := c.buf[:0]
	c.buf, c.r = nil, nil
	crlfBufs.Put(&b)
}

func (c *crlfReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if c.pendLF {
			p[n] = '\n'
			n++
			c.pendLF, c.prevCR = false, false
			continue
		}
		if c.off >= len(c.buf) {
			if n > 0 {
				return n, nil
			}
			if c.err != nil {
				return 0, c.err
			}
			m, err := c.r.Read(c.buf[:cap(c.buf)])
			c.buf, c.off, c.err = c.buf[:m], 0, err
			continue
		}
		chunk := c.buf[c.off:]
		if room := len(p) - n; len(chunk) > room {
			chunk = chunk[:room]
		}
		i := bytes.IndexByte(chunk, '\n')
		plain := chunk
		if i >= 0 {
			plain = chunk[:i]
		}
		if z := bytes.IndexByte(plain, 0); z >= 0 {
			plain, i = plain[:z], z
		}
		copy(p[n:], plain)
		n += len(plain)
		c.off += len(plain)
		if len(plain) > 0 {
			c.prevCR = plain[len(plain)-1] == '\r'
		}
		if i < 0 || n == len(p) {
			continue
		}
		c.off++
		switch {
		case chunk[i] == 0:
			p[n] = 0x80
			c.prevCR = false
		case c.prevCR:
			p[n] = '\n'
			c.prevCR = false
		default:
			p[n] = '\r'
			c.pendLF, c.prevCR = true, true
		}
		n++
	}
	return n, nil
}

// messageBytes reads a whole message in its IMAP form. It is used for the
// items that need the MIME structure; BODY[] without a section streams.
func messageBytes(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return toIMAP(raw, true), nil
}

// headerBytes reads only the header of a message (up to and including
// the blank line), in IMAP form; ENVELOPE needs no more.
func headerBytes(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	var raw []byte
	for {
		line, err := br.ReadSlice('\n')
		raw = append(raw, line...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			break
		}
	}
	return toIMAP(raw, true), nil
}

// toIMAP turns stored bytes into what clients see: bare LF becomes CRLF,
// NUL becomes 0x80 (Dovecot's istream-crlf and NUL replacement) unless
// nul is false (BINARY, which may carry NUL in a literal8).
func toIMAP(raw []byte, nul bool) []byte {
	n := len(raw)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			n++
		}
	}
	out := make([]byte, 0, n)
	start := 0
	for i, c := range raw {
		switch {
		case c == '\n' && (i == 0 || raw[i-1] != '\r'):
			out = append(out, raw[start:i]...)
			out = append(out, '\r', '\n')
			start = i + 1
		case c == 0 && nul:
			out = append(out, raw[start:i]...)
			out = append(out, 0x80)
			start = i + 1
		}
	}
	return append(out, raw[start:]...)
}

// rawHeaderValue returns the first field named key, unfolded the way
// Dovecot's ENVELOPE shows it: the CRLFs of folding removed, the white
// space kept.
func rawHeaderValue(h textproto.Header, key string) string {
	f := h.FieldsByKey(key)
	if !f.Next() {
		return ""
	}
	raw, err := f.Raw()
	if err != nil {
		return f.Value()
	}
	s := string(raw)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimRight(s, "\r\n")
	s = strings.ReplaceAll(s, "\r\n", "")
	s = strings.ReplaceAll(s, "\n", "")
	return strings.TrimLeft(s, " \t")
}

// envelope builds the ENVELOPE of a parsed header (message/rfc822 parts).
func envelope(h textproto.Header) *imap.Envelope {
	f := map[string]string{}
	for _, k := range envelopeFields {
		if v := rawHeaderValue(h, k); v != "" {
			f[strings.ToLower(k)] = v
		}
	}
	return envelopeOf(f)
}

var envelopeFields = []string{"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-Id"}

// envelopeRaw builds the ENVELOPE straight from header bytes in one pass
// (the FETCH ENVELOPE path): the first occurrence of each field, unfolded.
func envelopeRaw(hdr []byte) *imap.Envelope {
	f := make(map[string]string, 10)
	for len(hdr) > 0 {
		end := 0
		for {
			i := bytes.IndexByte(hdr[end:], '\n')
			if i < 0 {
				end = len(hdr)
				break
			}
			end += i + 1
			if end >= len(hdr) || (hdr[end] != ' ' && hdr[end] != '\t') {
				break
			}
		}
		field := hdr[:end]
		hdr = hdr[end:]
		c := bytes.IndexByte(field, ':')
		if c <= 0 {
			continue
		}
		name := strings.ToLower(string(bytes.TrimRight(field[:c], " \t")))
		switch name {
		case "date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id":
		default:
			continue
		}
		if _, seen := f[name]; seen {
			continue
		}
		v := field[c+1:]
		v = bytes.TrimRight(v, "\r\n")
		v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
		v = bytes.ReplaceAll(v, []byte("\n"), nil)
		f[name] = string(bytes.TrimLeft(v, " \t"))
	}
	return envelopeOf(f)
}

// envelopeOf makes the ENVELOPE from raw (unfolded) field values: subject
// and addresses as written, as Dovecot shows them; the date parsed (go-imap
// formats it) and the message ids without their angle brackets (go-imap
// adds them).
func envelopeOf(f map[string]string) *imap.Envelope {
	env := &imap.Envelope{Subject: f["subject"]}
	if d := f["date"]; d != "" {
		if t, ok := parseDateFast(d); ok {
			env.Date = t
		} else if t, err := mail.ParseDate(d); err == nil {
			env.Date = t
		}
	}
	env.From = parseAddresses(f["from"])
	env.Sender = parseAddresses(f["sender"])
	env.ReplyTo = parseAddresses(f["reply-to"])
	env.To = parseAddresses(f["to"])
	env.Cc = parseAddresses(f["cc"])
	env.Bcc = parseAddresses(f["bcc"])
	env.MessageID = msgIDs(f["message-id"])
	if ids := msgIDs(f["in-reply-to"]); ids != "" {
		env.InReplyTo = strings.Split(ids, "> <")
	}
	return env
}

// msgIDs strips the outer angle brackets of a message-id list.
func msgIDs(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
		return v[1 : len(v)-1]
	}
	return v
}

// bodyStructure computes BODYSTRUCTURE of a message in IMAP form.
func bodyStructure(msg []byte) imap.BodyStructure {
	return structure(splitEntity(msg), false)
}

// readHeader parses the header of a message in IMAP form.
func readHeader(msg []byte) textproto.Header {
	return parseHeader(splitEntity(msg).hdr)
}

var shortMonths = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseDateFast reads the usual RFC 5322 date "Mon, 2 Jan 2006 15:04:05
// -0700" (day of week optional, one or two day digits) exactly as
// mail.ParseDate would, without its trial of layouts, which costs more
// than the rest of an ENVELOPE; anything else (comments, obsolete zones,
// odd spacing) reports false and is left to mail.ParseDate.
func parseDateFast(s string) (time.Time, bool) {
	if len(s) > 5 && s[3] == ',' && s[4] == ' ' {
		switch s[:3] {
		case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		default:
			return time.Time{}, false
		}
		s = s[5:]
	}
	num := func(b string) (int, bool) {
		n := 0
		for i := 0; i < len(b); i++ {
			if b[i] < '0' || b[i] > '9' {
				return 0, false
			}
			n = n*10 + int(b[i]-'0')
		}
		return n, len(b) > 0
	}
	sp := strings.IndexByte(s, ' ')
	if sp < 1 || sp > 2 {
		return time.Time{}, false
	}
	day, ok := num(s[:sp])
	s = s[sp+1:]
	// "Jan 2006 15:04:05 -0700"
	if !ok || len(s) != 23 || s[3] != ' ' || s[8] != ' ' || s[11] != ':' || s[14] != ':' || s[17] != ' ' {
		return time.Time{}, false
	}
	month := -1
	for i, m := range shortMonths {
		if s[:3] == m {
			month = i
		}
	}
	year, ok1 := num(s[4:8])
	hh, ok2 := num(s[9:11])
	mm, ok3 := num(s[12:14])
	ss, ok4 := num(s[15:17])
	zh, ok5 := num(s[19:21])
	zm, ok6 := num(s[21:23])
	if month < 0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || (s[18] != '+' && s[18] != '-') ||
		day < 1 || day > daysIn(time.Month(month+1), year) || hh > 23 || mm > 59 || ss > 59 || zh > 24 || zm > 59 {
		return time.Time{}, false
	}
	off := zh*3600 + zm*60
	if s[18] == '-' {
		off = -off
	}
	t := time.Date(year, time.Month(month+1), day, hh, mm, ss, 0, time.UTC).Add(-time.Duration(off) * time.Second)
	return t.In(time.FixedZone("", off)), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
