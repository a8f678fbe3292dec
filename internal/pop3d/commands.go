// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"errors"
	"io"
	"strconv"
)

// command runs one TRANSACTION-state command (all but QUIT) and reports
// whether it counts as good; Dovecot disconnects after too many bad ones.
func (s *session) command(ctx context.Context, name, args string) bool {
	d := s.drop
	w := s.bw
	switch name {
	case "CAPA":
		writeLine(w, replyOK)
		for _, c := range capaCommon {
			writeLine(w, c)
		}
		writeLine(w, ".")
	case "STAT":
		writef(w, replyStat, len(d.msgs)-d.delCount, d.total-d.delSize)
	case "LIST":
		if args == "" {
			writef(w, replyListHead, len(d.msgs)-d.delCount)
			var buf []byte
			for i, m := range d.msgs {
				if d.deleted[i] {
					continue
				}
				buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
				buf = append(buf, ' ')
				buf = strconv.AppendInt(buf, m.Size, 10)
				buf = append(buf, '\r', '\n')
				w.Write(buf)
			}
			writeLine(w, ".")
			return true
		}
		i, ok := s.msgnum(args, false)
		if !ok {
			return false
		}
		writef(w, "+OK %d %d", i+1, d.msgs[i].Size)
	case "UIDL":
		if args == "" {
			writeLine(w, replyOK)
			var buf []byte
			for i, u := range d.uidls {
				if d.deleted[i] {
					continue
				}
				buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
				buf = append(buf, ' ')
				buf = append(buf, u...)
				buf = append(buf, '\r', '\n')
				w.Write(buf)
			}
			writeLine(w, ".")
			return true
		}
		i, ok := s.msgnum(args, false)
		if !ok {
			return false
		}
		writef(w, "+OK %d %s", i+1, d.uidls[i])
	case "RETR":
		i, ok := s.msgnum(args, false)
		if !ok {
			return false
		}
		s.stats.retr++
		return s.fetch(ctx, i, -1)
	case "TOP":
		i, ok := s.msgnum(args, true)
		if !ok {
			return false
		}
		n, ok := s.lineCount(args)
		if !ok {
			return false
		}
		s.stats.top++
		return s.fetch(ctx, i, n)
	case "DELE":
		i, ok := s.msgnum(args, false)
		if !ok {
			return false
		}
		d.dele(i)
		writeLine(w, replyMarkedDeleted)
	case "RSET":
		d.rset()
		writeLine(w, replyOK)
	case "NOOP":
		writeLine(w, replyOK)
	default:
		// LAST too: Dovecot has it only with pop3_enable_last.
		writef(w, replyUnknown, name)
		return false
	}
	return true
}

// msgnum parses a message number as Dovecot's get_msgnum does; with
// thenSpace (TOP) a space must follow it. It answers the client itself
// when the number is bad and returns the 0-based index.
func (s *session) msgnum(args string, thenSpace bool) (int, bool) {
	if args == "" || args[0] < '0' || args[0] > '9' {
		writef(s.bw, replyBadMsgnum, args)
		return 0, false
	}
	j := 0
	for j < len(args) && args[j] >= '0' && args[j] <= '9' {
		j++
	}
	num, err := strconv.ParseUint(args[:j], 10, 32)
	rest := args[j:]
	if err != nil {
		writef(s.bw, replyMsgnumTooLarge, rest)
		return 0, false
	}
	if (thenSpace && (rest == "" || rest[0] != ' ')) || (!thenSpace && rest != "") {
		writef(s.bw, replyNoiseMsgnum, rest)
		return 0, false
	}
	if num == 0 || num > uint64(len(s.drop.msgs)) {
		writef(s.bw, replyNoMessage, num)
		return 0, false
	}
	if s.drop.deleted[num-1] {
		writeLine(s.bw, replyMsgDeleted)
		return 0, false
	}
	return int(num - 1), true
}

// lineCount parses TOP's second argument (Dovecot's get_size).
func (s *session) lineCount(args string) (int64, bool) {
	j := 0
	for j < len(args) && args[j] >= '0' && args[j] <= '9' {
		j++
	}
	// skip the message number and the spaces after it
	for j < len(args) && args[j] == ' ' {
		j++
	}
	args = args[j:]
	if args == "" || args[0] < '0' || args[0] > '9' {
		writef(s.bw, replyBadSize, args)
		return 0, false
	}
	j = 0
	for j < len(args) && args[j] >= '0' && args[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(args[:j], 10, 64)
	if err != nil {
		// Unlike get_msgnum, get_size shows the whole argument.
		writef(s.bw, replySizeTooLarge, args)
		return 0, false
	}
	if args[j:] != "" {
		writef(s.bw, replyNoiseSize, args[j:])
		return 0, false
	}
	return n, true
}

// fetch sends message i: in full (lines < 0, RETR, "+OK <size> octets")
// or its header and first lines (TOP, "+OK").
func (s *session) fetch(ctx context.Context, i int, lines int64) bool {
	d := s.drop
	err := d.withMessage(ctx, i, func(r io.Reader) error {
		head := s.bw.Available()
		if lines < 0 {
			d.markSeen(i)
			writef(s.bw, replyRetrHead, d.msgs[i].Size)
		} else {
			writeLine(s.bw, replyOK)
		}
		headLen := int64(head - s.bw.Available())
		if headLen < 0 {
			headLen = 0 // the buffer was flushed meanwhile; not for one line
		}
		n, err := writeMessage(s.bw, r, lines)
		if lines < 0 {
			s.stats.retrBytes += headLen + n
		} else {
			s.stats.topBytes += headLen + n
		}
		writeLine(s.bw, ".")
		return err
	})
	switch {
	case err == nil:
		return true
	case errors.Is(err, errExpunged):
		// Dovecot: "-ERR Message N expunged.", a bad command when the
		// client asks again for an expunged message.
		writef(s.bw, replyMsgExpunged, i+1)
		bad := s.expungedSeen[i]
		if s.expungedSeen == nil {
			s.expungedSeen = map[int]bool{}
		}
		s.expungedSeen[i] = true
		return !bad
	default:
		s.srv.logf("%s: Error: %v", s.prefix(), err)
		writeLine(s.bw, storageReply(err))
		return false
	}
}
