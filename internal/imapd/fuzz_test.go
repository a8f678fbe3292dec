// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedLog collects go-imap's error log (recovered panics).
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// FuzzIMAP sends a command stream to a live in-process server after
// LOGIN and SELECT. The server must not panic (go-imap recovers panics
// per connection and logs them; the log must stay free of them), must
// keep the mbox readable, and must answer a NOOP on a new connection.
func FuzzIMAP(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzIMAP.
	logs := &lockedLog{}
	e := newEnv(f, "127.0.0.1", func(c *Config) { c.ErrorLog = log.New(logs, "", 0) })
	f.Fuzz(func(t *testing.T, in []byte) {
		write(t, e.spool, msgAtoB+"From c@hamap.local  Fri Nov 27 02:00:00 2026\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\nin\n--b--\n")
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		go func() {
			c.Write([]byte("l LOGIN b " + passB + "\r\ns SELECT INBOX\r\n"))
			c.Write(in)
			c.Write([]byte("\r\nzz LOGOUT\r\n"))
			// EOF ends whatever the input left open (a literal, IDLE).
			c.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(io.Discard, c)
		c.Close()
		if l := logs.take(); strings.Contains(l, "panic") {
			t.Fatalf("server panicked:\n%s", l)
		}
		// The server still answers.
		cl := dial(t, e.addr, "")
		cl.mustOK("LOGIN b " + passB)
		cl.mustOK("NOOP")
		cl.cmd("LOGOUT")
	})
}
