// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/emersion/go-imap/v2/imapserver"
)

// STARTTLS is run by rewriteConn rather than by the library: the library
// would put its TLS connection above ours, where we could no longer see
// the commands, find the login's tag or keep pipelined bytes out of its
// buffers for a mail process. The library is then told the connection is
// TLS by giving it a *tls.Conn of its own (libTLSConn) as the connection
// it inspects, closes and sets deadlines on; its reads and writes still
// come to us.

// isStartTLS tells whether line is a STARTTLS command we run: the exact
// "<tag> STARTTLS" form, before login, with TLS offered and not yet on.
// Anything else goes to the library, whose refusals are rewritten.
func (c *rewriteConn) isStartTLS(line []byte) bool {
	if c.tlsOn || c.st.tls || c.st.srv.cfg.SSL == "no" || c.st.srv.cfg.TLS == nil {
		return false
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	tag, cmd, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(tag) == 0 || !bytes.EqualFold(cmd, []byte("STARTTLS")) {
		return false
	}
	for _, b := range tag {
		if b <= ' ' || b >= 0x7f || bytes.IndexByte([]byte("(){%*\"\\]+"), b) >= 0 {
			return false
		}
	}
	c.st.mu.Lock()
	ok = c.st.ic != nil
	c.st.mu.Unlock()
	return ok
}

// startTLSTimeout bounds the handshake after STARTTLS.
const startTLSTimeout = 60 * time.Second

// startTLS answers the STARTTLS command line, runs the handshake on the
// connection below and continues above it. What the client sent after
// the command line is handshake input, as in the library.
func (c *rewriteConn) startTLS(line []byte) error {
	tag, _, _ := bytes.Cut(line, []byte(" "))
	c.account(line)
	rest := c.rbuf[len(line):]
	c.rbuf = nil
	c.mu.Lock()
	conn := c.Conn
	c.mu.Unlock()
	reply := string(tag) + " " + textStartTLS + "\r\n"
	n, err := conn.Write([]byte(reply))
	c.out.Add(int64(n))
	if err != nil {
		return err
	}
	var under net.Conn = conn
	if len(rest) > 0 {
		under = &prefixConn{Conn: conn, pre: bytes.Clone(rest)}
	}
	tc := tls.Server(under, c.st.srv.cfg.TLS)
	tc.SetDeadline(time.Now().Add(startTLSTimeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	c.mu.Lock()
	c.Conn = tc
	c.mu.Unlock()
	c.tlsOn = true
	c.st.mu.Lock()
	ic := c.st.ic
	c.st.mu.Unlock()
	if !setLibConn(ic, tls.Server(c, c.st.srv.cfg.TLS)) {
		return errors.New("imapd: cannot tell go-imap about STARTTLS")
	}
	return nil
}

// setLibConn replaces the connection the library checks for TLS
// (imapserver.Conn.conn, under its mutex). The field is unexported; this
// is tied to the pinned go-imap version, and TestLibConnField fails when
// the field moves.
func setLibConn(ic *imapserver.Conn, nc net.Conn) bool {
	if ic == nil {
		return false
	}
	v := reflect.ValueOf(ic).Elem()
	cf, mf := v.FieldByName("conn"), v.FieldByName("mutex")
	if !cf.IsValid() || !mf.IsValid() || cf.Type() != reflect.TypeFor[net.Conn]() || mf.Type() != reflect.TypeFor[sync.Mutex]() {
		return false
	}
	mu := (*sync.Mutex)(unsafe.Pointer(mf.UnsafeAddr()))
	mu.Lock()
	*(*net.Conn)(unsafe.Pointer(cf.UnsafeAddr())) = nc
	mu.Unlock()
	return true
}

// prefixConn reads pre before the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// deadConn takes deadlines for a connection handed to a mail process.
type deadConn struct{ net.Conn }

func (deadConn) SetDeadline(time.Time) error      { return nil }
func (deadConn) SetReadDeadline(time.Time) error  { return nil }
func (deadConn) SetWriteDeadline(time.Time) error { return nil }
