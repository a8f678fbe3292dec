// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/maillog"
)

// Serve answers POP3 connections on ln until ctx is done or ln fails. It
// closes ln when it returns and waits for the sessions it started; when
// ctx ends, idle sessions get Dovecot's "Server shutting down." reply.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if cfg.Auth == nil {
		return errors.New("pop3d: no authenticator")
	}
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.ImplicitTLS && cfg.TLS == nil {
		return errors.New("pop3d: implicit TLS without a certificate")
	}
	srv := &server{cfg: cfg, penalty: &penalties{cfg.Penalties}, conns: map[*session]struct{}{}}
	if srv.penalty.p == nil {
		srv.penalty = newPenalties()
	}
	srv.uidl, _ = parseUIDLFormat(cfg.uidlFormat())
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer func() {
		srv.shutdown()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.handle(ctx, c)
		}()
	}
}

type server struct {
	cfg     Config
	uidl    uidlFormat
	penalty *penalties

	mu    sync.Mutex
	conns map[*session]struct{}
}

func (srv *server) handle(ctx context.Context, c net.Conn) {
	s := newSession(srv, c)
	srv.mu.Lock()
	srv.conns[s] = struct{}{}
	srv.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			slog.Error("pop3 session panic", "panic", r, "stack", string(debug.Stack()))
		}
		srv.mu.Lock()
		delete(srv.conns, s)
		srv.mu.Unlock()
		if !s.handedOff {
			s.conn.Close()
		}
	}()
	s.run(ctx)
}

// shutdown ends the sessions still open: their next read fails at once.
func (srv *server) shutdown() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for s := range srv.conns {
		s.stopping.Store(true)
		s.conn.SetReadDeadline(time.Now())
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// secured is Dovecot's rule: TLS, or the same address at both ends, or a
// client in login_trusted_networks.
func (srv *server) secured(tlsOn bool, rip, lip netip.Addr) bool {
	return tlsOn || (rip.IsValid() && rip == lip) || srv.trusted(rip)
}

// trusted tells whether rip is in login_trusted_networks.
func (srv *server) trusted(rip netip.Addr) bool {
	for _, p := range srv.cfg.TrustedNetworks {
		if p.Contains(rip) {
			return true
		}
	}
	return false
}

func (srv *server) tlsConfig() *tls.Config {
	if srv.cfg.SSL == "no" {
		return nil
	}
	return srv.cfg.TLS
}

func (srv *server) greeting() string {
	if srv.cfg.Greeting == "" {
		return "+OK " + replyGreetingDefault
	}
	return "+OK " + srv.cfg.Greeting
}

func (srv *server) loginTimeout() time.Duration {
	if srv.cfg.LoginTimeout > 0 {
		return srv.cfg.LoginTimeout
	}
	return 180 * time.Second
}

func (srv *server) idleTimeout() time.Duration {
	if srv.cfg.IdleTimeout > 0 {
		return srv.cfg.IdleTimeout
	}
	return 600 * time.Second
}

func (srv *server) failureDelay() time.Duration {
	switch d := srv.cfg.AuthFailureDelay; {
	case d < 0:
		return 0
	case d == 0:
		return 2 * time.Second
	default:
		return d
	}
}

func (srv *server) mechanisms() []string {
	if len(srv.cfg.Mechanisms) == 0 {
		return []string{"PLAIN"}
	}
	var out []string
	for _, m := range srv.cfg.Mechanisms {
		switch up := upper(m); up {
		case "PLAIN", "LOGIN":
			out = append(out, up)
		}
	}
	return out
}

func (srv *server) logf(format string, args ...any) {
	if srv.cfg.Log != nil {
		srv.cfg.Log.Logf(maillog.MailInfo, format, args...)
	}
}

var pid = os.Getpid()

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// penalties is anvil's table (internal/dovecotauth) as the session
// code calls it.
type penalties struct{ p *dovecotauth.Penalties }

func newPenalties() *penalties { return &penalties{dovecotauth.NewPenalties()} }

func (p *penalties) delay(ip netip.Addr, now time.Time) time.Duration { return p.p.Delay(ip, now) }
func (p *penalties) fail(ip netip.Addr, password string, now time.Time) {
	p.p.Fail(ip, password, now)
}
func (p *penalties) succeed(ip netip.Addr) { p.p.Succeed(ip) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// writeLine sends one reply line with CRLF.
func writeLine(w *bufio.Writer, line string) {
	w.WriteString(line)
	w.WriteString("\r\n")
}

// writef sends one formatted reply line with CRLF.
func writef(w *bufio.Writer, format string, args ...any) {
	fmt.Fprintf(w, format, args...)
	w.WriteString("\r\n")
}
