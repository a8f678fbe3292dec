// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"io"
)

// writeMessage copies a message from r to w the way Dovecot's pop3
// fetch_callback does (src/pop3/pop3-commands.c): a CR is added before
// every LF that lacks one, a '.' that starts a line (but not the message)
// is doubled, and when the message does not end in LF, CRLF is added.
// With lines >= 0 (TOP), the header, the blank line and then that many
// body lines are sent; Dovecot starts the body at the first CR or LF byte
// that follows an LF (or starts the message). NUL bytes pass unchanged
// (Dovecot replaces them only with the outlook-no-nuls workaround). It
// returns the bytes written, not counting the terminating ".\r\n".
func writeMessage(w *bufio.Writer, r io.Reader, lines int64) (int64, error) {
	var (
		buf    [32 * 1024]byte
		prev   byte // the previous input byte
		start  = true
		inBody bool
		last   byte // the previous output byte
		n      int64
		left   = lines + 1 // Dovecot counts the blank line too
	)
	top := lines >= 0
	for {
		m, rerr := r.Read(buf[:])
		chunk := buf[:m]
		// Copy runs of ordinary bytes at once.
		from := 0
		for i := 0; i < len(chunk); i++ {
			c := chunk[i]
			if c != '\n' && c != '.' && c != '\r' {
				prev, start = c, false
				continue
			}
			if !inBody && (c == '\r' || c == '\n') && (start || prev == '\n') {
				inBody = true
			}
			switch {
			case c == '\n':
				if start || prev != '\r' {
					k, _ := w.Write(chunk[from:i])
					n += int64(k)
					w.WriteByte('\r')
					n++
					from = i
				}
				if top && inBody {
					left--
					if left == 0 {
						k, _ := w.Write(chunk[from : i+1])
						n += int64(k)
						return n, nil
					}
				}
			case c == '.' && !start && prev == '\n':
				k, _ := w.Write(chunk[from:i])
				n += int64(k)
				w.WriteByte('.')
				n++
				from = i
			}
			prev, start = c, false
		}
		if from < len(chunk) {
			k, _ := w.Write(chunk[from:])
			n += int64(k)
		}
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if last != '\n' {
		w.WriteString("\r\n")
		n += 2
	}
	return n, nil
}
