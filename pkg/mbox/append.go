// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strconv"
	"time"
)

// AppendOptions describes a message to append.
type AppendOptions struct {
	Flags    Flag
	Keywords []string
	// Date is the INTERNALDATE (From_ line date, written in local time);
	// zero means now.
	Date time.Time
	// Sender is the From_ line's envelope sender. Empty means
	// "<user>@<hostname>" as Dovecot writes for IMAP APPEND; use
	// "MAILER-DAEMON" for a null sender.
	Sender string
}

// appendPadding is the blank space Dovecot reserves after X-Keywords on
// save: MBOX_HEADER_PADDING+1, room for "Content-Length: \n" and the
// longest number (MAX_INT_STRLEN = 23); Content-Length is then written into
// its end.
const appendPadding = headerPadding + 1 + len("Content-Length: \n") + 23

// saveDropHeaders are left out of appended messages (mbox_save_drop_headers).
var saveDropHeaders = map[string]bool{
	"content-length": true, "status": true, "x-delivery-id": true, "x-imap": true,
	"x-imapbase": true, "x-keywords": true, "x-status": true, "x-uid": true,
}

// Append adds a message at the end of the file the way Dovecot saves one:
// From_ line, the message's header (CRLF stored as LF, private headers
// dropped), X-IMAPbase when it is the first message, X-UID, Status,
// X-Status, X-Keywords with padding, Content-Length, the body and a blank
// line. The data is fsynced before Append returns; on failure the file is
// truncated back. The message stays \Recent until a session takes it.
func (mb *Mailbox) Append(ctx context.Context, r io.Reader, opts AppendOptions) (uint32, error) {
	if mb.ro {
		return 0, errors.New("append: mailbox is read-only")
	}
	kw := make([]int, 0, len(opts.Keywords))
	for _, k := range opts.Keywords {
		if !validKeyword(k) {
			return 0, fmt.Errorf("append: invalid keyword %q", k)
		}
	}
	lk, err := mb.writeLock(ctx)
	if err != nil {
		return 0, err
	}
	defer lk.Unlock()
	for _, k := range opts.Keywords {
		if i := mb.keywordIndex(k); !slices.Contains(kw, i) {
			kw = append(kw, i)
		}
	}
	slices.Sort(kw)
	date := opts.Date
	if date.IsZero() {
		date = mb.opts.now()
	}
	sender := opts.Sender
	if sender == "" {
		name := "nobody"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		sender = name + "@" + mb.opts.hostname()
	}
	st, err := statFile(mb.f)
	if err != nil {
		return 0, err
	}
	oldSize := st.size
	off := oldSize
	uid := mb.nextUID
	m := &msg{uid: uid, flags: opts.Flags & clientFlags, kw: kw, date: date.Unix(), sender: sender,
		haveEOH: true, recent: true, baseLastAt: -1}
	m.hdrFlags, m.hdrKw = m.flags, m.kw

	werr := func() error {
		w := bufio.NewWriterSize(io.NewOffsetWriter(mb.f, off), 64<<10)
		pos := off
		if off > 0 {
			var last [1]byte
			if _, err := mb.f.ReadAt(last[:], off-1); err != nil {
				return fmt.Errorf("read mbox: %w", err)
			}
			if last[0] != '\n' {
				w.WriteByte('\n')
				pos++
			}
		}
		m.fromOff = pos
		from := formatFromLine(sender, date, mb.opts.loc())
		w.WriteString(from)
		pos += int64(len(from))
		m.hdrOff = pos
		br := bufio.NewReaderSize(r, 64<<10)
		vis, n, err := copyAppendHeader(w, br)
		if err != nil {
			return err
		}
		pos += n
		var own []byte
		if off == 0 {
			own = append(own, "X-IMAPbase: "...)
			own = appendUint(own, mb.uidValidity)
			own = append(own, ' ')
			m.baseLastAt = pos + int64(len(own))
			own = appendUID10(own, uid)
			own = append(own, '\n')
			m.baseOK, m.baseLast = true, uid
		}
		own = append(own, "X-UID: "...)
		own = appendUint(own, uid)
		own = append(own, "\nStatus: "...)
		own = appendStatusLetters(own, m.flags, false)
		own = append(own, '\n')
		if m.flags&(Answered|Flagged|Draft|Deleted) != 0 {
			own = append(own, "X-Status: "...)
			own = appendStatusLetters(own, m.flags, true)
			own = append(own, '\n')
		}
		own = append(own, "X-Keywords:"...)
		for _, k := range kw {
			own = append(own, ' ')
			own = append(own, mb.keywords[k]...)
		}
		own = append(own, bytes.Repeat([]byte{' '}, appendPadding)...)
		spaceEnd := pos + int64(len(own))
		own = append(own, '\n', '\n')
		w.Write(own)
		pos += int64(len(own))
		m.bodyOff = pos
		// The body, CRLF stored as LF, ending with LF.
		c := &countingLF{w: w}
		if _, err := copyLF(c, br); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write mbox: %w", err)
		}
		m.end = m.bodyOff + c.n
		m.bodyVis = c.n + c.lines
		// The blank line written after our headers is part of the
		// message as read back (CRLF, 2 bytes), as a fresh parse counts it.
		m.size = visibleSize(vis) + 2 + m.bodyVis
		if err := hook("append"); err != nil {
			return err
		}
		// Content-Length goes into the end of the reserved blanks, as
		// Dovecot writes it once the body size is known.
		cl := []byte("\nContent-Length: " + strconv.FormatInt(c.n, 10))
		if _, err := mb.f.WriteAt(cl, spaceEnd-int64(len(cl))); err != nil {
			return fmt.Errorf("write mbox: %w", err)
		}
		if _, err := mb.f.WriteAt([]byte{'\n'}, m.end); err != nil {
			return fmt.Errorf("write mbox: %w", err)
		}
		return mb.f.Sync()
	}()
	if werr != nil {
		if terr := mb.f.Truncate(oldSize); terr != nil {
			return 0, fmt.Errorf("%w (truncate back failed: %v)", werr, terr)
		}
		mb.f.Sync()
		return 0, werr
	}
	mb.nextUID++
	if mb.pseudo == nil && len(mb.msgs) == 0 {
		// First message: its X-IMAPbase carries no keywords yet.
		mb.baseRewrite = len(mb.keywords) > 0
	} else if f := mb.ordered()[0]; f.baseLastAt >= 0 && f.baseLast != mb.nextUID-1 {
		// Dovecot updates uid-last in place at once.
		if _, err := mb.f.WriteAt(appendUID10(nil, mb.nextUID-1), f.baseLastAt); err == nil {
			f.baseLast = mb.nextUID - 1
			mb.f.Sync()
		}
	}
	mb.msgs = append(mb.msgs, m)
	if err := mb.restat(); err != nil {
		return uid, err
	}
	if mb.baseRewrite {
		// Dovecot's commit-time sync puts the keyword list into the new
		// first message's X-IMAPbase at once.
		return uid, mb.flushLocked(false, -1)
	}
	return uid, nil
}

// copyAppendHeader copies the message header up to (not including) its
// blank line, with CRLF as LF and Dovecot's private headers and any From_
// lines dropped. It returns the visible header and the bytes written.
func copyAppendHeader(w *bufio.Writer, br *bufio.Reader) ([]byte, int64, error) {
	var vis []byte
	var n int64
	skipping := false
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return nil, 0, fmt.Errorf("read message: %w", err)
		}
		line = crlfToLF(line)
		if line[0] == '\n' {
			break
		}
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		if line[0] == ' ' || line[0] == '\t' {
			if skipping {
				continue
			}
		} else {
			skipping = bytes.HasPrefix(line, []byte("From "))
			if c := bytes.IndexByte(line, ':'); c > 0 && saveDropHeaders[string(bytes.ToLower(bytes.TrimRight(line[:c], " \t")))] {
				skipping = true
			}
			if skipping {
				continue
			}
		}
		vis = append(vis, line...)
		w.Write(line)
		n += int64(len(line))
		if err == io.EOF {
			break
		}
	}
	return vis, n, nil
}

func crlfToLF(line []byte) []byte {
	if len(line) >= 2 && line[len(line)-2] == '\r' && line[len(line)-1] == '\n' {
		line[len(line)-2] = '\n'
		return line[:len(line)-1]
	}
	return line
}

// countingLF writes through and counts bytes and lines.
type countingLF struct {
	w     *bufio.Writer
	n     int64
	lines int64
}

// copyLF copies the body with CRLF turned into LF and a final LF added when
// missing (Dovecot's HEADER_FILTER_END_BODY_WITH_LF).
func copyLF(c *countingLF, br *bufio.Reader) (int64, error) {
	last := byte('\n')
	empty := true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			empty = false
			if line[len(line)-1] == '\n' {
				line = crlfToLF(line)
				c.lines++
			}
			c.w.Write(line)
			c.n += int64(len(line))
			last = line[len(line)-1]
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return c.n, fmt.Errorf("read message: %w", err)
		}
	}
	if !empty && last != '\n' {
		c.w.WriteByte('\n')
		c.n++
		c.lines++
	}
	return c.n, nil
}
