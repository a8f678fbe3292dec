// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// DefaultVersion is the "$v/$Z" pair of Debian 12's sendmail, shown in
// Received headers.
const DefaultVersion = "8.17.1.9/8.17.1.9"

// maxHeader bounds the header section kept in memory while the added
// headers are decided; a longer header is passed through unexamined.
const maxHeader = 1 << 20

// Envelope is what the headers Sendmail adds are made of: the macros of
// the cf's H lines ($s, $_, $r, $i, $j, $v/$Z, $u, $b, $g, $x, $a, $t).
type Envelope struct {
	// QID is the queue id ($i).
	QID string
	// Sender is the envelope sender as given in MAIL FROM or -f, without
	// angle brackets; "" is the null sender <>. It is what the local
	// mailer's -f argument and the From_ line show ("root" for a local
	// submission by root).
	Sender string
	// HeaderSender is $g rewritten for headers (Return-Path, From:), for
	// instance "root@mail.hamap.local" for Sender "root". Empty means
	// Sender.
	HeaderSender string
	// FullName is $x, the sender's full name (-F or the passwd gecos of
	// a local submitter); it makes From: "$x <$g>".
	FullName string
	// Recipients are the envelope recipients as written in RCPT TO or on
	// the command line ("<b@hamap.local>", "b"). With exactly one, and
	// HeaderRecipients false, Received gets "for <rcpt>;".
	Recipients []string
	// HeaderRecipients is set for sendmail -t: the recipients were not
	// known when Received was made, so it has no "for" clause.
	HeaderRecipients bool
	// Proto is $r: "ESMTP", "SMTP", "ESMTPA", "ESMTPS", "ESMTPSA", or ""
	// for a command-line submission (no "with" clause).
	Proto string
	// Helo is $s, the HELO/EHLO argument.
	Helo string
	// ClientName is the client's validated host name ("" if none).
	ClientName string
	// ClientAddr is the client's IP address as text; for SMTP it makes
	// $_ "name [addr]" or "[addr]".
	ClientAddr string
	// Forged adds " (may be forged)" to $_, as Sendmail does when the
	// forward lookup of the client's name does not match.
	Forged bool
	// LocalUser is set instead of ClientAddr for a command-line
	// submission or sendmail -bs: $_ becomes "user@localhost" (with -bs,
	// Helo and Proto are set too: "from x (root@localhost)").
	LocalUser string
	// AuthType and AuthSSF make the "(authenticated bits=N)" line
	// (${auth_type}, ${auth_ssf}); AuthSSF "" leaves out "bits=".
	AuthType, AuthSSF string
	// TLSVersion, Cipher, CipherBits and Verify make the TLS line.
	TLSVersion, Cipher, CipherBits, Verify string
	// Hostname is $j, the canonical name of this host.
	Hostname string
	// Version is "$v/$Z"; empty means DefaultVersion.
	Version string
	// Arrival is when the message was received: $b, the date of
	// Received, and $t, the time in Message-Id. Its location is the zone
	// the dates are written in.
	Arrival time.Time
	// Origin is $a, the date of an added Date: header; zero means
	// Arrival. Sendmail takes it when the envelope starts (MAIL FROM),
	// a moment before Arrival.
	Origin time.Time
}

// ArpaDate formats t as Sendmail's arpadate does on Debian: "Fri, 27 Nov
// 2026 01:01:09 GMT" at offset zero, else "Sat, 7 Nov 2026 09:00:00
// +0900". The day of the month is not padded, and Debian's build writes
// no zone name after the offset (checked with TimeZoneSpec=Asia/Seoul).
func ArpaDate(t time.Time) string {
	s := t.Format("Mon, 2 Jan 2006 15:04:05")
	_, off := t.Zone()
	if off == 0 {
		return s + " GMT"
	}
	sign := byte('+')
	m := off / 60
	if m < 0 {
		sign, m = '-', -m
	}
	if m >= 24*60 {
		m = 23*60 + 59
	}
	return s + fmt.Sprintf(" %c%02d%02d", sign, m/60, m%60)
}

// hostMacro is $_: "name [addr]", "[addr]" or "user@localhost".
func (e *Envelope) hostMacro() string {
	if e.LocalUser != "" {
		return e.LocalUser + "@localhost"
	}
	if e.ClientAddr == "" {
		return ""
	}
	s := "[" + e.ClientAddr + "]"
	if e.ClientName != "" {
		s = e.ClientName + " " + s
	}
	if e.Forged {
		s += " (may be forged)"
	}
	return s
}

func (e *Envelope) version() string {
	if e.Version == "" {
		return DefaultVersion
	}
	return e.Version
}

func (e *Envelope) headerSender() string {
	if e.HeaderSender != "" {
		return e.HeaderSender
	}
	return e.Sender
}

// Received returns the Received header (with its final LF) that the stock
// cf's HReceived line expands to for e.
func (e *Envelope) Received() string {
	var b strings.Builder
	b.WriteString("Received: ")
	if e.Helo != "" {
		b.WriteString("from " + e.Helo + " ")
	}
	if h := e.hostMacro(); h != "" {
		b.WriteString("(")
		if e.Helo == "" {
			b.WriteString("from ")
		}
		b.WriteString(h + ")\n\t")
	}
	if e.AuthType != "" {
		b.WriteString("(authenticated")
		if e.AuthSSF != "" {
			b.WriteString(" bits=" + e.AuthSSF)
		}
		b.WriteString(")\n\t")
	}
	b.WriteString("by " + e.Hostname + " (" + e.version() + ")")
	if e.Proto != "" {
		b.WriteString(" with " + e.Proto)
	}
	b.WriteString(" id " + e.QID)
	if e.TLSVersion != "" {
		fmt.Fprintf(&b, "\n\t(version=%s cipher=%s bits=%s verify=%s)", e.TLSVersion, e.Cipher, e.CipherBits, e.Verify)
	}
	if len(e.Recipients) == 1 && !e.HeaderRecipients {
		b.WriteString("\n\tfor " + e.Recipients[0] + "; ")
	} else {
		b.WriteString(";\n\t")
	}
	b.WriteString(ArpaDate(e.Arrival) + "\n")
	return b.String()
}

// fromValue is "$?x$x <$g>$|$g$.".
func (e *Envelope) fromValue() string {
	if e.FullName != "" {
		return e.FullName + " <" + e.headerSender() + ">"
	}
	return e.headerSender()
}

// messageID is "<$t.$i@$j>", $t being YYYYMMDDhhmm of the arrival in
// UTC (Sendmail writes $t in GMT whatever the zone of the dates).
func (e *Envelope) messageID() string {
	return "<" + e.Arrival.UTC().Format("200601021504") + "." + e.QID + "@" + e.Hostname + ">"
}

// Prefix returns the header lines Sendmail writes before the message's own
// header for a mailer with the given F= flags, given the names of the
// headers the message has (any case): Return-Path (flag P), Received,
// then for a message without them Resent-Date/Date (D), Resent-From/From
// (F), Full-Name (x) and Resent-Message-Id/Message-Id (M), in the cf's
// order. The Resent- forms are added only to a message that has some
// Resent- header, as Sendmail does for a resent message.
func (e *Envelope) Prefix(flags string, has func(name string) bool) string {
	var b strings.Builder
	flag := func(c byte) bool { return strings.IndexByte(flags, c) >= 0 }
	if flag('P') {
		b.WriteString("Return-Path: <" + e.headerSender() + ">\n")
	}
	b.WriteString(e.Received())
	resent := has("resent-*")
	origin := e.Origin
	if origin.IsZero() {
		origin = e.Arrival
	}
	date := ArpaDate(origin.In(e.Arrival.Location()))
	if flag('D') {
		if resent && !has("resent-date") {
			b.WriteString("Resent-Date: " + date + "\n")
		}
		if !has("date") {
			b.WriteString("Date: " + date + "\n")
		}
	}
	if flag('F') {
		if resent && !has("resent-from") {
			b.WriteString("Resent-From: " + e.fromValue() + "\n")
		}
		if !has("from") {
			b.WriteString("From: " + e.fromValue() + "\n")
		}
	}
	if flag('x') && e.FullName != "" && !has("full-name") {
		b.WriteString("Full-Name: " + e.FullName + "\n")
	}
	if flag('M') {
		if resent && !has("resent-message-id") {
			b.WriteString("Resent-Message-Id: " + e.messageID() + "\n")
		}
		if !has("message-id") {
			b.WriteString("Message-Id: " + e.messageID() + "\n")
		}
	}
	return b.String()
}

// readHeader reads the header section of br (up to and including the
// blank line that ends it, or the first line that is not a header field),
// with CRLF turned into LF, and the lower-cased field names it holds.
func readHeader(br *bufio.Reader) (hdr []byte, names map[string]bool, err error) {
	names = map[string]bool{}
	var buf bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: pass the rest on as body.
			buf.Write(line)
			return buf.Bytes(), names, nil
		}
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				return buf.Bytes(), names, nil
			}
			return nil, nil, err
		}
		line = crlfToLF(line)
		if len(line) == 1 && line[0] == '\n' {
			buf.Write(line)
			return buf.Bytes(), names, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if buf.Len() == 0 {
				// A continuation without a field: the header ends here.
				buf.Write(line)
				return buf.Bytes(), names, nil
			}
		} else {
			i := bytes.IndexByte(line, ':')
			if i <= 0 || !isFieldName(line[:i]) {
				buf.Write(line)
				return buf.Bytes(), names, nil
			}
			n := strings.ToLower(string(bytes.TrimRight(line[:i], " \t")))
			names[n] = true
			if strings.HasPrefix(n, "resent-") {
				names["resent-*"] = true
			}
		}
		buf.Write(line)
		if buf.Len() > maxHeader {
			return buf.Bytes(), names, nil
		}
		if err == io.EOF {
			return buf.Bytes(), names, nil
		}
	}
}

func isFieldName(b []byte) bool {
	b = bytes.TrimRight(b, " \t")
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

func crlfToLF(line []byte) []byte {
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		return line[:n-1]
	}
	return line
}

// NewMessage returns the message as a local mailer receives it from
// Sendmail: the headers Sendmail adds for a mailer with flags (see
// Prefix) in front of the message from r, whose CRLF line ends become LF
// (Sendmail keeps its df files with LF). r is read as the returned reader
// is; only the header section is held in memory.
func NewMessage(e *Envelope, flags string, r io.Reader) (io.Reader, error) {
	br := messageReaders.Get().(*bufio.Reader)
	br.Reset(r)
	hdr, names, err := readHeader(br)
	if err != nil {
		br.Reset(nil)
		messageReaders.Put(br)
		return nil, fmt.Errorf("read header: %w", err)
	}
	prefix := e.Prefix(flags, func(n string) bool { return names[n] })
	return io.MultiReader(strings.NewReader(prefix), bytes.NewReader(hdr), &lfReader{br: br}), nil
}

// messageReaders are NewMessage's readers: their 64 KiB buffer bounds a
// header line, and one per message was most of a small message's
// garbage. A reader goes back to the pool when the message has been read
// to its end.
var messageReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// lfReader turns CRLF into LF.
type lfReader struct {
	br      *bufio.Reader
	pending []byte
	err     error // the end (or error) met, once br is given back
}

func (l *lfReader) Read(p []byte) (int, error) {
	if l.br == nil && len(l.pending) == 0 {
		return 0, l.err
	}
	for len(l.pending) == 0 {
		line, err := l.br.ReadSlice('\n')
		if len(line) > 0 {
			if err == bufio.ErrBufferFull && line[len(line)-1] == '\r' {
				// Keep a CR that may start a CRLF for the next read.
				if err := l.br.UnreadByte(); err == nil {
					line = line[:len(line)-1]
				}
			}
			l.pending = crlfToLF(line)
			if len(l.pending) == 0 {
				continue
			}
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			// Nothing is pending (it would point into the buffer):
			// the reader can go back.
			l.err = err
			l.br.Reset(nil)
			messageReaders.Put(l.br)
			l.br = nil
			return 0, err
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}
