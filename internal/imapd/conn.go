// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// chanListener hands accepted connections to an imapserver.Server, so that
// one socket can feed the servers for secured and not secured connections.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(ln net.Listener) *chanListener {
	return &chanListener{addr: ln.Addr(), ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// rewriteConn counts bytes for the logout line and, before login, replaces
// the library's fixed texts of the greeting and of the pre-login refusals
// with Dovecot's. Before login the server sends no literals, so every line
// it writes is a whole response; the rewriting stops at login.
//
// Before login it also hands the library one line at a time, keeping what
// the client sent beyond it (pipelined commands) in rbuf, so that a login
// handed to a mail process leaves no client byte behind in the library's
// buffers; and it runs STARTTLS itself, so that it stays above the TLS
// layer and sees every command in the clear (see starttls.go).
type rewriteConn struct {
	net.Conn
	st *connState

	in, out atomic.Int64

	// Read side, used by the library's goroutine only.
	rbuf   []byte // read from the client, not yet given to the library
	rtmp   []byte
	limit  bool // before login: one line per Read
	tlsOn  bool // STARTTLS done
	authTg string

	mu         sync.Mutex
	stopped    bool
	gone       bool // handed to a mail process: EOF to reads, writes dropped
	pending    []byte
	inLine     []byte
	commands   map[string]string // tag -> command, pre-login
	sawLogout  bool
	afterLogin bool
	failInit   bool
	closeAfter bool

	corked bool
	cbuf   []byte
	werr   error
}

func newRewriteConn(c net.Conn, st *connState) *rewriteConn {
	return &rewriteConn{Conn: c, st: st, commands: map[string]string{}, limit: true}
}

// maxHeld is how much of one line Read collects before giving it to the
// library without its end (a long literal cannot be a STARTTLS line).
const maxHeld = 8192

func (c *rewriteConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	gone, conn := c.gone, c.Conn
	c.mu.Unlock()
	if gone {
		return 0, io.EOF
	}
	if len(c.rbuf) == 0 && !c.limit {
		n, err := conn.Read(p)
		c.account(p[:n])
		return n, err
	}
	for c.limit && bytes.IndexByte(c.rbuf, '\n') < 0 && len(c.rbuf) < maxHeld {
		if c.rtmp == nil {
			c.rtmp = make([]byte, 4096)
		}
		n, err := conn.Read(c.rtmp)
		c.rbuf = append(c.rbuf, c.rtmp[:n]...)
		if err != nil {
			if len(c.rbuf) == 0 {
				c.rbuf, c.rtmp = nil, nil
				return 0, err
			}
			break
		}
	}
	chunk := c.rbuf
	if c.limit {
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i+1]
			if c.isStartTLS(chunk) {
				if err := c.startTLS(chunk); err != nil {
					return 0, err
				}
				return c.Read(p)
			}
		}
	}
	n := copy(p, chunk)
	c.rbuf = c.rbuf[n:]
	if len(c.rbuf) == 0 {
		c.rbuf = nil
		if !c.limit {
			c.rtmp = nil
		}
	}
	c.account(p[:n])
	return n, nil
}

// account counts bytes given to the library and, before login, notes the
// commands they hold (for the reply texts and the logout line).
func (c *rewriteConn) account(b []byte) {
	n := len(b)
	c.in.Add(int64(n))
	c.mu.Lock()
	if !c.stopped && n > 0 {
		c.inLine = append(c.inLine, b...)
		for {
			i := bytes.IndexByte(c.inLine, '\n')
			if i < 0 {
				break
			}
			f := strings.Fields(string(c.inLine[:i]))
			if len(f) >= 2 && strings.EqualFold(f[1], "LOGOUT") {
				c.sawLogout = true
			}
			if len(f) >= 2 && (strings.EqualFold(f[1], "LOGIN") || strings.EqualFold(f[1], "AUTHENTICATE")) {
				c.authTg = f[0]
			}
			if len(f) >= 2 && len(c.commands) < 64 {
				c.commands[f[0]] = strings.ToUpper(f[1])
			}
			c.inLine = c.inLine[i+1:]
		}
		if len(c.inLine) > 8192 {
			c.inLine = c.inLine[:0]
		}
	}
	c.mu.Unlock()
}

// authTag is the tag of the LOGIN or AUTHENTICATE command being run.
func (c *rewriteConn) authTag() string { return c.authTg }

// detach ends this process's part in the connection: it returns the
// connection below (the client's TCP connection, or the TLS one) and the
// client bytes read but not yet served; from then on the library reads
// EOF and its writes and Close go nowhere.
func (c *rewriteConn) detach() (net.Conn, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone, c.stopped = true, true
	pending := c.rbuf
	c.rbuf, c.rtmp = nil, nil
	return c.Conn, pending
}

// Close closes the connection unless it was handed to a mail process.
func (c *rewriteConn) Close() error {
	c.mu.Lock()
	gone, conn := c.gone, c.Conn
	c.mu.Unlock()
	if gone {
		return nil
	}
	return conn.Close()
}

func (c *rewriteConn) SetDeadline(t time.Time) error      { return c.under().SetDeadline(t) }
func (c *rewriteConn) SetReadDeadline(t time.Time) error  { return c.under().SetReadDeadline(t) }
func (c *rewriteConn) SetWriteDeadline(t time.Time) error { return c.under().SetWriteDeadline(t) }

// under is the connection below, or a dead one once handed over (the
// library's deadlines must not touch a connection it no longer owns).
func (c *rewriteConn) under() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return deadConn{}
	}
	return c.Conn
}

func (c *rewriteConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return len(p), nil
	}
	conn := c.Conn
	if c.stopped {
		if c.corked {
			err := c.werr
			if err == nil {
				c.cbuf = append(c.cbuf, p...)
				if len(c.cbuf) >= corkMax {
					err = c.flushLocked()
				}
			}
			c.mu.Unlock()
			if err != nil {
				return 0, err
			}
			return len(p), nil
		}
		c.mu.Unlock()
		n, err := conn.Write(p)
		c.out.Add(int64(n))
		return n, err
	}
	c.pending = append(c.pending, p...)
	var out []byte
	for !c.stopped {
		i := bytes.Index(c.pending, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(c.pending[:i])
		c.pending = c.pending[i+2:]
		out = append(out, c.rewrite(line)...)
	}
	if len(c.pending) > 0 && c.stopped {
		out = append(out, c.pending...)
		c.pending = nil
	}
	closeAfter := c.closeAfter
	c.mu.Unlock()
	if len(out) > 0 {
		n, err := conn.Write(out)
		c.out.Add(int64(n))
		if err != nil {
			return 0, err
		}
	}
	if closeAfter {
		conn.Close()
	}
	return len(p), nil
}

// corkMax bounds what a corked connection holds before writing.
const corkMax = 64 * 1024

// cork collects the responses of one command (go-imap flushes after
// every line, one write per FETCH response) and uncork writes them, as
// Dovecot corks its output stream while a command runs.
func (c *rewriteConn) cork() {
	c.mu.Lock()
	c.corked = c.stopped
	c.mu.Unlock()
}

func (c *rewriteConn) uncork() {
	c.mu.Lock()
	c.corked = false
	c.flushLocked()
	c.mu.Unlock()
}

func (c *rewriteConn) flushLocked() error {
	if len(c.cbuf) == 0 || c.werr != nil {
		c.cbuf = c.cbuf[:0]
		return c.werr
	}
	n, err := c.Conn.Write(c.cbuf)
	c.out.Add(int64(n))
	c.cbuf = c.cbuf[:0]
	if cap(c.cbuf) > 4*corkMax {
		c.cbuf = nil
	}
	c.werr = err
	return err
}

// initFailed makes the login's tagged reply Dovecot's "initialization
// failed" pair and closes the connection after it.
func (c *rewriteConn) initFailed() {
	c.mu.Lock()
	c.failInit = true
	c.mu.Unlock()
}

// loggedIn ends the rewriting after the tagged reply of the login,
// which is the next line the server writes.
func (c *rewriteConn) loggedIn() {
	c.mu.Lock()
	c.afterLogin = true
	c.mu.Unlock()
	c.limit = false
}

// Dovecot's pre-login texts (dovecot-protocol.md §1).
const (
	textPlainAlert    = "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed."
	textPlainLogin    = "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	textPlainAuth     = "NO [PRIVACYREQUIRED] Plaintext authentication disabled."
	textSSLRequired   = "NO [PRIVACYREQUIRED] Authentication not allowed until SSL/TLS is enabled."
	textStartTLS      = "OK Begin TLS negotiation now."
	textNoTLS         = "BAD TLS support isn't enabled."
	textPreCapability = "OK Pre-login capabilities listed, post-login capabilities have more."
	textPreLogout     = "OK Logout completed."
)

// rewrite maps one pre-login response line; it is called with c.mu held.
func (c *rewriteConn) rewrite(line string) string {
	if h := c.st.handoff; h != nil {
		// A handed-over session: its greeting is the login's reply.
		c.stopped = true
		if r, ok := preAuthReply(h.Tag, line); ok {
			return r
		}
		return line + "\r\n"
	}
	if strings.HasPrefix(line, "* OK [CAPABILITY ") && strings.HasSuffix(line, "] IMAP server ready") {
		return strings.TrimSuffix(line, "IMAP server ready") + c.st.srv.cfg.Greeting + "\r\n"
	}
	tag, rest, ok := strings.Cut(line, " ")
	if !ok || tag == "*" || tag == "+" {
		return line + "\r\n"
	}
	if c.failInit {
		c.stopped = true
		c.closeAfter = true
		return tag + " OK Logged in, but initialization failed.\r\n" +
			"* BYE Internal error occurred. Refer to server log for more information.\r\n"
	}
	if c.afterLogin {
		// AUTHENTICATE's success text is go-imap's; Dovecot says
		// "Logged in" for LOGIN and AUTHENTICATE alike.
		c.stopped = true
		if strings.HasPrefix(rest, "OK [CAPABILITY ") {
			if i := strings.Index(rest, "] "); i > 0 {
				return tag + " " + rest[:i+2] + "Logged in\r\n"
			}
		}
		return line + "\r\n"
	}
	cmd := c.commands[tag]
	switch rest {
	case "NO [PRIVACYREQUIRED] TLS is required to authenticate":
		if c.st.srv.cfg.SSL == "required" && cmd != "LOGIN" {
			return tag + " " + textSSLRequired + "\r\n"
		}
		if cmd == "LOGIN" {
			return textPlainAlert + "\r\n" + tag + " " + textPlainLogin + "\r\n"
		}
		return tag + " " + textPlainAuth + "\r\n"
	case "OK Begin TLS negotiation now":
		c.stopped = true
		return tag + " " + textStartTLS + "\r\n"
	case "NO STARTTLS not supported":
		return tag + " " + textNoTLS + "\r\n"
	case "OK CAPABILITY completed":
		return tag + " " + textPreCapability + "\r\n"
	case "OK LOGOUT completed":
		return tag + " " + textPreLogout + "\r\n"
	}
	return line + "\r\n"
}
