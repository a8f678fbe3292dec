// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Version is the qf format version sendmail 8.17 writes and the highest it
// reads (QF_VERSION in sendmail's queue.c).
const Version = 8

// Envelope is the content of a qf control file: everything sendmail keeps
// about a queued message except its body, which lives in the df file.
// Fields are kept as sendmail writes them so that a file read and written
// again is byte for byte the same.
type Envelope struct {
	// Version is the V line (8 for sendmail 8.17).
	Version int
	// Created is the T line, the creation time in Unix seconds.
	Created int64
	// LastAttempt is the K line, the time of the last delivery attempt
	// (0 when none was made).
	LastAttempt int64
	// Attempts is the N line, the number of delivery attempts.
	Attempts int
	// Priority is the P line (see the Priority function). Sendmail adds
	// RetryFactor each time a queue run reads the file.
	Priority int64
	// DataDir is the d line: the queue directory holding the df file
	// when it is not the qf file's own ("" otherwise).
	DataDir string
	// Inode is the I line, "major/minor/inode" of the df file, written by
	// sendmail when it knows them ("" for none).
	Inode string
	// BodyType is the B line: the BODY= parameter (7BIT, 8BITMIME).
	BodyType string
	// Quarantine is the q line, the quarantine reason.
	Quarantine string
	// Message is the envelope's M line: the status shown by mailq, such
	// as "Deferred: Connection refused by [127.0.0.1]".
	Message string
	// Flags is the F line: w (warning sent), r (response), 8 (8-bit
	// data), b (delete Bcc:), d (RET= given), n (RET=HDRS), s (split).
	Flags string
	// Macros are the $ lines, the persistent macros ($r, $s, $_,
	// ${daemon_flags}, ${auth_type}, ...) in file order.
	Macros []Macro
	// Sender is the S line, the envelope sender as sendmail printed it
	// ("<a@b>" for SMTP, "a@b" for command-line submissions, "<>").
	Sender string
	// EnvID is the Z line, the DSN ENVID= parameter.
	EnvID string
	// Auth is the A line, the AUTH= parameter (xtext).
	Auth string
	// DeliverBy is the ! line without its "!": the DELIVERBY mode letter,
	// a space and the seconds ("R 86400").
	DeliverBy string
	// Recipients are the undelivered recipients in file order.
	Recipients []Recipient
	// Headers are the H lines: the message header as sendmail will
	// send it, with its conditional flags.
	Headers []Header
}

// Macro is one $ line of a qf file.
type Macro struct {
	// Name is the macro name: one character ("r") or a long name
	// without braces ("daemon_flags").
	Name  string
	Value string
}

// Recipient is one R line with the lines that belong to it.
type Recipient struct {
	// Message is a per-recipient M line (the last status of this
	// recipient), "" for none.
	Message string
	// Ctl is the controlling user of the C line in force for this
	// recipient ("user:uid:gid:alias" or ":alias"), "" for none.
	Ctl string
	// ORcpt is the Q line, the DSN ORCPT= parameter ("rfc822;x@y").
	ORcpt string
	// Final is the r line, the final recipient for DSNs
	// ("RFC822; x@y").
	Final string
	// Flags are the R line's flag letters before the colon: P primary,
	// N NOTIFY= given, S/F/D notify on success/failure/delay, B internal
	// Bcc, A alias, and sendmail's dynamic mailer flag.
	Flags string
	// Addr is the recipient address as sendmail printed it.
	Addr string
}

// Header is one H line.
type Header struct {
	// Cond is the text between the two '?' that follow the H: the mailer
	// flags the header depends on ("P", "D", "M", "F", "x"), or a macro
	// condition ("$j", "${auth_type}"); "" for none.
	Cond string
	// Name is the field name.
	Name string
	// Value is everything after the colon, including the space sendmail
	// keeps after it and "\n\t" (or "\n ") between folded lines.
	Value string

	// bare is set for a header read without the "?...?" part (qf files
	// of older sendmail versions), so that it is written back the same.
	bare bool
}

// ErrIncomplete reports a qf file without its final "." line (a file
// being written, or one cut short by a crash).
var ErrIncomplete = errors.New("incomplete queue file read")

// SyntaxError reports a qf line sendmail would refuse.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// maxLine bounds a (folded) qf line; sendmail's own limit is its
// MAXLINE-sized buffer grown on demand, but nothing it writes comes close
// to this.
const maxLine = 1 << 20

// ReadEnvelope parses a qf file. It accepts what sendmail 8.17's readqf
// accepts: lines folded with leading white space, the obsolete D, E and L
// lines (ignored), and nothing after the final ".".
func ReadEnvelope(r io.Reader) (*Envelope, error) {
	br := bufio.NewReaderSize(r, 4096)
	env := &Envelope{}
	var (
		lineNo   int
		pending  Recipient
		inRcpts  bool
		done     bool
		havePend bool
		ctl      string
	)
	next, err := foldedLines(br)
	if err != nil {
		return nil, err
	}
	for {
		line, n, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		lineNo = n
		if done {
			return nil, &SyntaxError{lineNo, "bogus queue line"}
		}
		if line == "" {
			return nil, &SyntaxError{lineNo, "unrecognized line"}
		}
		arg := line[1:]
		if line[0] != 'H' && strings.IndexByte(arg, '\n') >= 0 {
			// Only headers keep their folds; sendmail turns the
			// newline of any other folded line into a space when it
			// writes the file again.
			arg = denl(arg, true)
		}
		switch line[0] {
		case 'V':
			v, ok := atoi(arg)
			if !ok {
				return nil, &SyntaxError{lineNo, "bad version"}
			}
			if v > Version {
				return nil, &SyntaxError{lineNo, "unsupported queue file version"}
			}
			env.Version = v
		case 'T':
			env.Created = atol(arg)
		case 'K':
			env.LastAttempt = atol(arg)
		case 'N':
			env.Attempts = int(atol(arg))
		case 'P':
			env.Priority = atol(arg)
		case 'd':
			env.DataDir = arg
		case 'I':
			env.Inode = arg
		case 'B':
			if !validBodyType(arg) {
				return nil, &SyntaxError{lineNo, "bogus queue line"}
			}
			env.BodyType = arg
		case 'q':
			env.Quarantine = arg
		case 'M':
			if inRcpts {
				pending.Message = arg
				havePend = true
			} else {
				env.Message = arg
			}
		case 'F':
			if strings.HasPrefix(line, "From ") {
				return nil, &SyntaxError{lineNo, "bogus queue line"}
			}
			env.Flags = arg
		case '$':
			m, ok := parseMacro(arg)
			if !ok {
				return nil, &SyntaxError{lineNo, "bad macro line"}
			}
			env.Macros = append(env.Macros, m)
		case 'S':
			env.Sender = arg
			inRcpts = true
		case 'Z':
			env.EnvID = arg
		case 'A':
			if !xtextOK(arg) {
				return nil, &SyntaxError{lineNo, "bogus queue line"}
			}
			env.Auth = arg
		case '!':
			env.DeliverBy = arg
		case 'C':
			ctl = arg
			inRcpts = true
		case 'Q':
			pending.ORcpt = arg
			havePend = true
			inRcpts = true
		case 'r':
			pending.Final = arg
			havePend = true
			inRcpts = true
		case 'R':
			flags, addr, ok := strings.Cut(arg, ":")
			if env.Version < 1 {
				// Before version 1 (or without a V line) R lines
				// had no flags; sendmail makes them primary.
				flags, addr, ok = "P", arg, true
			}
			if !ok {
				// sendmail skips a version >= 1 R line without a colon.
				pending, havePend = Recipient{}, false
				continue
			}
			pending.Flags = flags
			pending.Addr = addr
			pending.Ctl = ctl
			env.Recipients = append(env.Recipients, pending)
			pending, havePend = Recipient{}, false
			inRcpts = true
		case 'H':
			h, ok := parseHeader(arg)
			if !ok {
				return nil, &SyntaxError{lineNo, "bad header line"}
			}
			env.Headers = append(env.Headers, h)
		case 'D', 'E', 'L':
			// Obsolete; sendmail 8.17 ignores them too.
		case '.':
			done = true
		default:
			return nil, &SyntaxError{lineNo, "unrecognized line"}
		}
	}
	if !done {
		return nil, ErrIncomplete
	}
	if havePend {
		return nil, &SyntaxError{lineNo, "Q, r or M line without its recipient"}
	}
	if env.Version < 1 {
		// Written back, it is a current file.
		env.Version = Version
	}
	return env, nil
}

// foldedLines returns an iterator over the lines of br joined the way
// sendmail's fgetfolded joins them: a line that starts with a space or a
// tab continues the previous one (the newline is kept).
func foldedLines(br *bufio.Reader) (func() (string, int, error), error) {
	var (
		peeked  string
		hasPeek bool
		eof     bool
		n       int
	)
	read := func() (string, bool, error) {
		if hasPeek {
			hasPeek = false
			return peeked, true, nil
		}
		if eof {
			return "", false, nil
		}
		var buf []byte
		for {
			chunk, err := br.ReadSlice('\n')
			buf = append(buf, chunk...)
			if len(buf) > maxLine {
				return "", false, &SyntaxError{n + 1, "line too long"}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				eof = true
				if len(buf) == 0 {
					return "", false, nil
				}
				// A last line without its newline: the file was cut.
				return "", false, ErrIncomplete
			}
			if err != nil {
				return "", false, err
			}
			break
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		return string(buf), true, nil
	}
	return func() (string, int, error) {
		line, ok, err := read()
		if err != nil {
			return "", n, err
		}
		if !ok {
			return "", n, io.EOF
		}
		n++
		start := n
		for {
			cont, ok, err := read()
			if err != nil {
				return "", n, err
			}
			if !ok {
				break
			}
			if cont != "" && (cont[0] == ' ' || cont[0] == '\t') {
				n++
				line += "\n" + cont
				if len(line) > maxLine {
					return "", n, &SyntaxError{n, "line too long"}
				}
				continue
			}
			peeked, hasPeek = cont, true
			break
		}
		return line, start, nil
	}, nil
}

func parseMacro(s string) (Macro, bool) {
	if s == "" {
		return Macro{}, false
	}
	if s[0] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 2 {
			return Macro{}, false
		}
		return Macro{Name: s[1:end], Value: s[end+1:]}, true
	}
	return Macro{Name: s[:1], Value: s[1:]}, true
}

func parseHeader(s string) (Header, bool) {
	var h Header
	if strings.HasPrefix(s, "?") {
		end := strings.IndexByte(s[1:], '?')
		if end < 0 {
			return h, false
		}
		h.Cond = s[1 : 1+end]
		s = s[2+end:]
	} else {
		h.bare = true
	}
	name, value, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return h, false
	}
	h.Name, h.Value = name, value
	return h, true
}

// validBodyType is sendmail's check_bodytype: 7BIT or 8BITMIME in any case.
func validBodyType(s string) bool {
	return strings.EqualFold(s, "7BIT") || strings.EqualFold(s, "8BITMIME")
}

// xtextOK reports whether s is valid RFC 3461 xtext, as the AUTH=
// parameter must be.
func xtextOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return false
			}
			i += 2
		case c < '!' || c > '~' || c == '=':
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')
}

// atol converts like C's atol: leading blanks, an optional sign, then
// digits; anything else ends the number.
func atol[T string | []byte](s T) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// WriteTo writes env in the qf format, in the order sendmail's queueup
// writes the lines.
func (env *Envelope) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	env.appendTo(&b)
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// Bytes returns env in the qf format.
func (env *Envelope) Bytes() []byte {
	var b bytes.Buffer
	env.appendTo(&b)
	return b.Bytes()
}

func (env *Envelope) appendTo(b *bytes.Buffer) {
	v := env.Version
	if v == 0 {
		v = Version
	}
	fmt.Fprintf(b, "V%d\nT%d\nK%d\nN%d\nP%d\n", v, env.Created, env.LastAttempt, env.Attempts, env.Priority)
	line := func(c byte, s string) {
		b.WriteByte(c)
		b.WriteString(denl(s, true))
		b.WriteByte('\n')
	}
	if env.DataDir != "" {
		line('d', env.DataDir)
	}
	if env.Inode != "" {
		line('I', env.Inode)
	}
	if env.BodyType != "" {
		line('B', env.BodyType)
	}
	if env.Quarantine != "" {
		line('q', env.Quarantine)
	}
	if env.Message != "" {
		line('M', env.Message)
	}
	if env.Flags != "" {
		line('F', env.Flags)
	}
	for _, m := range env.Macros {
		b.WriteByte('$')
		if len(m.Name) == 1 {
			b.WriteString(m.Name)
		} else {
			b.WriteString("{" + m.Name + "}")
		}
		b.WriteString(denl(m.Value, true))
		b.WriteByte('\n')
	}
	line('S', env.Sender)
	if env.EnvID != "" {
		line('Z', env.EnvID)
	}
	if env.Auth != "" {
		line('A', env.Auth)
	}
	if env.DeliverBy != "" {
		line('!', env.DeliverBy)
	}
	ctl := ""
	for _, r := range env.Recipients {
		if r.Message != "" {
			line('M', r.Message)
		}
		// Like printctladdr: a C line when the controlling user
		// changes, an empty one when it stops applying.
		if r.Ctl != ctl {
			line('C', r.Ctl)
			ctl = r.Ctl
		}
		if r.ORcpt != "" {
			line('Q', r.ORcpt)
		}
		if r.Final != "" {
			line('r', r.Final)
		}
		b.WriteByte('R')
		b.WriteString(denl(r.Flags, true))
		b.WriteByte(':')
		b.WriteString(denl(r.Addr, true))
		b.WriteByte('\n')
	}
	for _, h := range env.Headers {
		b.WriteByte('H')
		if !h.bare {
			b.WriteString("?" + h.Cond + "?")
		}
		b.WriteString(h.Name)
		b.WriteByte(':')
		b.WriteString(denl(h.Value, false))
		b.WriteByte('\n')
	}
	b.WriteString(".\n")
}

// denl makes s safe for one qf line as sendmail's denlstring does: a
// newline becomes a space unless it folds a header (not strict, followed
// by white space). Carriage returns go too, since the reader would drop
// them only at the end of a line.
func denl(s string, strict bool) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r", "")
	out := []byte(s)
	for i := 0; i < len(out); i++ {
		if out[i] != '\n' {
			continue
		}
		if strict || i+1 >= len(out) || (out[i+1] != ' ' && out[i+1] != '\t') {
			out[i] = ' '
		}
	}
	return string(out)
}

// Sendmail's default work factors (the cf options RecipientFactor,
// ClassFactor and RetryFactor).
const (
	RecipientFactor = 30000
	ClassFactor     = 1800
	RetryFactor     = 90000
)

// Priority is the P value sendmail gives a new message: its size (header
// and body as received, LF line ends), less ClassFactor per Precedence
// class, plus RecipientFactor per recipient. A failed attempt adds
// RetryFactor.
func Priority(size int64, class, nrcpts int) int64 {
	return size - int64(class)*ClassFactor + int64(nrcpts)*RecipientFactor
}
