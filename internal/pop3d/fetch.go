// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// bufPool holds the read buffers of writeMessage, which would otherwise
// allocate (and clear) 32 KB per message sent.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 32*1024)
	return &b
}}

// writeMessage copies a message from r to w the way Dovecot's pop3
// fetch_callback does (src/pop3/pop3-commands.c): a CR is added before
// every LF that lacks one, a '.' that starts a line (but not the message)
// is doubled, and when the message does not end in LF, CRLF is added.
// With lines >= 0 (TOP), the header, the blank line and then that many
// body lines are sent; Dovecot starts the body at the first CR or LF byte
// that starts a line (or the message). NUL bytes pass unchanged (Dovecot
// replaces them only with the outlook-no-nuls workaround). It returns the
// bytes written, not counting the terminating ".\r\n".
//
// Only line starts and line ends matter, so it works a line at a time,
// finding LFs with bytes.IndexByte.
func writeMessage(w *bufio.Writer, r io.Reader, lines int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var (
		prev   byte // the last input byte of the previous chunk
		start  = true
		inBody bool
		n      int64
		left   = lines + 1 // Dovecot counts the blank line too
	)
	top := lines >= 0
	write := func(b []byte) {
		k, _ := w.Write(b)
		n += int64(k)
	}
	writeByte := func(c byte) {
		if w.WriteByte(c) == nil {
			n++
		}
	}
	for {
		m, rerr := r.Read(buf)
		chunk := buf[:m]
		lineStart := start || prev == '\n'
		for p := 0; p < len(chunk); {
			if lineStart {
				c := chunk[p]
				if !inBody && (c == '\r' || c == '\n') {
					inBody = true
				}
				if c == '.' && !(start && p == 0) {
					writeByte('.')
				}
			}
			k := bytes.IndexByte(chunk[p:], '\n')
			if k < 0 {
				write(chunk[p:])
				break
			}
			k += p
			var cr bool
			switch {
			case k > 0:
				cr = chunk[k-1] == '\r'
			case !start:
				cr = prev == '\r'
			}
			write(chunk[p:k])
			if !cr {
				writeByte('\r')
			}
			writeByte('\n')
			if top && inBody {
				if left--; left == 0 {
					return n, nil
				}
			}
			p, lineStart = k+1, true
			start = false
		}
		if m > 0 {
			prev, start = chunk[m-1], false
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if start || prev != '\n' {
		writeByte('\r')
		writeByte('\n')
	}
	return n, nil
}
