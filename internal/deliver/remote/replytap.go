// SPDX-License-Identifier: MIT

package remote

import (
	"bytes"
	"net"
	"sync"
)

// replyTap remembers the last complete line the server sent. go-smtp's
// client keeps a successful RCPT's reply text to itself, and sendmail
// reports it in a "relayed" return receipt's Diagnostic-Code; the client
// sends one command at a time, so after Rcpt returns the last line read
// is that reply's.
type replyTap struct {
	net.Conn
	mu      sync.Mutex
	partial []byte
	line    string
}

func (t *replyTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 {
		t.mu.Lock()
		t.partial = append(t.partial, p[:n]...)
		if i := bytes.LastIndexByte(t.partial, '\n'); i >= 0 {
			done := bytes.TrimRight(t.partial[:i], "\r")
			if j := bytes.LastIndexByte(done, '\n'); j >= 0 {
				done = done[j+1:]
			}
			t.line = string(bytes.TrimRight(done, "\r"))
			t.partial = append(t.partial[:0], t.partial[i+1:]...)
		}
		if len(t.partial) > 4096 {
			// No reply line is this long; keep memory bounded.
			t.partial = t.partial[:0]
		}
		t.mu.Unlock()
	}
	return n, err
}

// last is the last complete line read, without its line end.
func (t *replyTap) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.line
}
