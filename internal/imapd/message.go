// SPDX-License-Identifier: MIT

package imapd

import (
	"bufio"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// crlfReader turns the message as stored (LF line ends) into what IMAP
// clients see: CRLF line ends, NUL bytes as 0x80 (Dovecot's
// imap_msgpart/istream-crlf behaviour). A CR already before an LF is kept.
type crlfReader struct {
	r       *bufio.Reader
	prevCR  bool
	pending byte
	hasPend bool
}

func newCRLFReader(r io.Reader) *crlfReader {
	return &crlfReader{r: bufio.NewReaderSize(r, 32*1024)}
}

func (c *crlfReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if c.hasPend {
			p[n] = c.pending
			n++
			c.hasPend = false
			continue
		}
		b, err := c.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch {
		case b == '\n' && !c.prevCR:
			p[n] = '\r'
			n++
			c.pending, c.hasPend = '\n', true
		case b == 0:
			b = 0x80
			p[n] = b
			n++
		default:
			p[n] = b
			n++
		}
		c.prevCR = b == '\r'
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

// envelope builds the ENVELOPE of a header. The subject and the
// addresses are passed as written (Dovecot does not decode them); the
// date and the message ids go through the library's parser.
func envelope(h textproto.Header) *imap.Envelope {
	env := imapserver.ExtractEnvelope(h) // the date and message ids
	env.Subject = rawHeaderValue(h, "Subject")
	for _, f := range []struct {
		key string
		dst *[]imap.Address
	}{{"From", &env.From}, {"Sender", &env.Sender}, {"Reply-To", &env.ReplyTo},
		{"To", &env.To}, {"Cc", &env.Cc}, {"Bcc", &env.Bcc}} {
		*f.dst = parseAddresses(rawHeaderValue(h, f.key))
	}
	return env
}

// bodyStructure computes BODYSTRUCTURE of a message in IMAP form.
func bodyStructure(msg []byte) imap.BodyStructure {
	return structure(splitEntity(msg), false)
}

// readHeader parses the header of a message in IMAP form.
func readHeader(msg []byte) textproto.Header {
	return parseHeader(splitEntity(msg).hdr)
}
