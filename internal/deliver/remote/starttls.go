// SPDX-License-Identifier: MIT

package remote

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// go-smtp v0.25's client cannot send our EHLO name before STARTTLS
// (NewClientStartTLS says "localhost") and has no exported StartTLS, so
// the courier speaks the first exchange itself: greeting, EHLO and, when
// offered, STARTTLS and the handshake. It then hands go-smtp a
// connection that replays the greeting and, without TLS, answers the
// client's repeated EHLO from the first reply instead of sending it twice.

// replayConn is a net.Conn with canned bytes to read first and one EHLO
// to swallow.
type replayConn struct {
	net.Conn
	pending   []byte
	ehloReply []byte // nil after use or when EHLO goes to the server
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) Write(p []byte) (int, error) {
	if c.ehloReply != nil && bytes.HasPrefix(bytes.ToUpper(p), []byte("EHLO ")) {
		c.pending = append(c.pending, c.ehloReply...)
		c.ehloReply = nil
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// opening is the result of the first exchange.
type opening struct {
	conn     net.Conn
	tls      bool
	greeting string // the 220 reply, for error texts
}

// open does greeting, EHLO and STARTTLS on conn. A non-nil error is a
// *textproto.Error for a reply or a network error.
func open(conn net.Conn, helo string, cfg *tls.Config, timeout time.Duration) (*opening, error) {
	conn.SetDeadline(time.Now().Add(timeout))
	defer conn.SetDeadline(time.Time{})
	tp := textproto.NewReader(bufio.NewReader(conn))
	code, greet, err := tp.ReadResponse(220)
	if err != nil {
		return nil, err
	}
	canned := multiline(code, greet)
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", helo); err != nil {
		return nil, err
	}
	code, ext, err := tp.ReadResponse(250)
	if err != nil {
		// HELO fallback and errors are go-smtp's: replay the greeting
		// and let it send EHLO again.
		return &opening{conn: &replayConn{Conn: conn, pending: []byte(canned)}, greeting: greet}, nil
	}
	hasTLS := false
	for _, l := range strings.Split(ext, "\n")[1:] {
		if strings.EqualFold(strings.Fields(l + " ")[0], "STARTTLS") {
			hasTLS = true
		}
	}
	if !hasTLS || cfg == nil {
		return &opening{conn: &replayConn{Conn: conn, pending: []byte(canned), ehloReply: []byte(multiline(code, ext))}, greeting: greet}, nil
	}
	if _, err := fmt.Fprintf(conn, "STARTTLS\r\n"); err != nil {
		return nil, err
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, &tlsError{err}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, &tlsError{err}
	}
	return &opening{conn: &replayConn{Conn: tc, pending: []byte(canned)}, tls: true, greeting: greet}, nil
}

// tlsError is a failed STARTTLS: the refused command or the handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// multiline writes a reply back in wire form.
func multiline(code int, text string) string {
	lines := strings.Split(text, "\n")
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
	}
	return b.String()
}
