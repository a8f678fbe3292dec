// SPDX-License-Identifier: MIT

package imapd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"

	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/maillog"
	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/mbox"
)

// Config is what the server needs from dovecot.conf and the process. The
// zero value of each field is Dovecot's default where one exists.
type Config struct {
	// Greeting is login_greeting ("Dovecot (Debian) ready." when empty).
	Greeting string
	// DisablePlaintextAuth refuses LOGIN and AUTHENTICATE PLAIN on
	// connections that are not secured (TLS, or remote IP == local IP,
	// or a remote IP in TrustedNetworks).
	DisablePlaintextAuth bool
	// SSL is "no", "yes" or "required"; TLS must be set unless "no".
	SSL string
	TLS *tls.Config
	// TrustedNetworks is login_trusted_networks.
	TrustedNetworks []netip.Prefix
	// FirstValidUID and LastValidUID are first_valid_uid and
	// last_valid_uid (0: no limit): a user outside them logs in but gets
	// Dovecot's "initialization failed" and BYE.
	FirstValidUID, LastValidUID uint32
	// Mechanisms is auth_mechanisms (PLAIN and LOGIN are served;
	// empty means PLAIN).
	Mechanisms []string
	// AuthFailureDelay is auth_failure_delay (default 2 s).
	AuthFailureDelay time.Duration
	// Auth checks passwords.
	Auth Authenticator
	// MailLocation is mail_location, e.g. "mbox:~/mail:INBOX=/var/mail/%u".
	MailLocation string
	// Mailboxes are the inbox namespace's mailbox blocks (SPECIAL-USE).
	Mailboxes []doveconf.Mailbox
	// IdleNotify is imap_idle_notify_interval: how often an IDLE
	// session gets "* OK Still here" (default 2 min; negative: never).
	IdleNotify time.Duration
	// Lock tunes mbox locking (mbox_lock_timeout and friends).
	Lock mbox.LockOptions
	// IdleCheck is the fallback stat interval for changes by other
	// processes when inotify says nothing (default 1 s).
	IdleCheck time.Duration
	// Log receives Dovecot's log lines; nil logs nothing.
	Log *maillog.Logger
	// Handoff, when set, takes every logged-in session out of this
	// process: dovecotd started as root gives it to a mail process
	// running as the user (internal/privsep).
	Handoff HandoffFunc
	// Penalties is anvil's failed-login table, shared with POP3 as
	// Dovecot's anvil is (nil: one of the server's own).
	Penalties *dovecotauth.Penalties
	// Clock drives the auth delays; nil is the real clock.
	Clock Clock
	// Debug, when set, gets every byte of every connection.
	Debug *log.Logger
	// ErrorLog gets go-imap's own errors (a recovered panic with its
	// stack, write failures); nil discards them.
	ErrorLog *log.Logger
}

// Server serves IMAP on any number of listeners.
type Server struct {
	cfg   Config
	clock Clock
	pen   *dovecotauth.Penalties

	// servers: the library decides LOGINDISABLED and STARTTLS per
	// server, so there is one per kind of connection.
	insecure, secured, implicitTLS *imapserver.Server
	mk                             func(insecureAuth bool, tlsCfg *tls.Config) *imapserver.Server

	// handoffSrv serves the sessions a login process handed over
	// (ServeHandoff), fed through handoffLn.
	handoffSrv *imapserver.Server
	handoffLn  *chanListener

	// noInotify makes the watchers rely on the periodic stat alone
	// (tests of the fallback).
	noInotify atomic.Bool

	mu      sync.Mutex
	shared  map[string]*sharedMailbox
	conns   map[*connState]struct{}
	closing bool
	wg      sync.WaitGroup
	lns     map[net.Listener]struct{}
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.Greeting == "" {
		cfg.Greeting = "Dovecot (Debian) ready."
	}
	if cfg.SSL == "" {
		cfg.SSL = "no"
	}
	if cfg.AuthFailureDelay == 0 {
		cfg.AuthFailureDelay = 2 * time.Second
	}
	if cfg.IdleNotify == 0 {
		cfg.IdleNotify = 2 * time.Minute
	}
	if cfg.IdleCheck == 0 {
		cfg.IdleCheck = time.Second
	}
	s := &Server{cfg: cfg, clock: cfg.Clock, shared: map[string]*sharedMailbox{},
		conns: map[*connState]struct{}{}, lns: map[net.Listener]struct{}{}}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.pen = cfg.Penalties; s.pen == nil {
		s.pen = dovecotauth.NewPenalties()
	}
	var startTLS *tls.Config
	if cfg.SSL != "no" {
		startTLS = cfg.TLS
	}
	s.mk = func(insecureAuth bool, tlsCfg *tls.Config) *imapserver.Server {
		opts := &imapserver.Options{
			NewSession:   s.newSession,
			Caps:         capabilities(),
			TLSConfig:    tlsCfg,
			InsecureAuth: insecureAuth,
			Logger:       discardLogger{},
		}
		if cfg.ErrorLog != nil {
			opts.Logger = cfg.ErrorLog
		}
		if cfg.Debug != nil {
			opts.DebugWriter = cfg.Debug.Writer()
		}
		return imapserver.New(opts)
	}
	s.insecure = s.mk(!cfg.DisablePlaintextAuth, startTLS)
	s.secured = s.mk(cfg.SSL != "required", startTLS)
	s.implicitTLS = s.mk(true, nil)
	return s
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// capabilities are the ones this backend implements truthfully.
func capabilities() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1:    {},
		imap.CapLiteralPlus:  {},
		imap.CapNamespace:    {},
		imap.CapUIDPlus:      {},
		imap.CapESearch:      {},
		imap.CapSearchRes:    {},
		imap.CapListExtended: {},
		imap.CapListStatus:   {},
		imap.CapMove:         {},
		imap.CapStatusSize:   {},
		imap.CapBinary:       {},
		imap.CapChildren:     {},
		imap.CapSpecialUse:   {},
	}
}

// Serve accepts connections on ln until it is closed; implicitTLS makes
// it an imaps (993) listener.
func (s *Server) Serve(ln net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		return errors.New("imaps listener without ssl_cert/ssl_key")
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	chIns, chSec, chTLS := newChanListener(ln), newChanListener(ln), newChanListener(ln)
	var wg sync.WaitGroup
	for _, p := range []struct {
		srv *imapserver.Server
		l   *chanListener
	}{{s.insecure, chIns}, {s.secured, chSec}, {s.implicitTLS, chTLS}} {
		wg.Add(1)
		go func() { defer wg.Done(); p.srv.Serve(p.l) }()
	}
	defer func() {
		chIns.Close()
		chSec.Close()
		chTLS.Close()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		st := &connState{srv: s, local: addrOf(c.LocalAddr()), remote: addrOf(c.RemoteAddr()), start: time.Now()}
		st.secured = st.local.IsValid() && st.local == st.remote || s.trusted(st.remote)
		var nc net.Conn = c
		target := chIns
		switch {
		case implicitTLS:
			st.tls = true
			nc = tls.Server(c, s.cfg.TLS)
			target = chTLS
		case st.secured:
			target = chSec
		}
		w := newRewriteConn(nc, st)
		st.conn = w
		s.mu.Lock()
		s.conns[st] = struct{}{}
		s.mu.Unlock()
		if !target.deliver(w) {
			c.Close()
			return nil
		}
	}
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// Close stops the listeners and ends every connection with Dovecot's
// "* BYE Server shutting down.".
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	conns := make([]*connState, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	ln := s.handoffLn
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range conns {
		c.byeText("Server shutting down.")
	}
	// Sessions write pending mailbox changes as they close.
	s.wg.Wait()
	return nil
}

func (s *Server) forget(st *connState) {
	s.mu.Lock()
	delete(s.conns, st)
	s.mu.Unlock()
}

// connState is what the server knows of one connection.
type connState struct {
	srv           *Server
	conn          *rewriteConn
	local, remote netip.Addr
	secured, tls  bool
	start         time.Time
	session       string
	handoff       *Handoff // a session handed over by the login process
	done          func()   // called when a handed-over session ends

	mu sync.Mutex
	ic *imapserver.Conn
}

// newSession is imapserver's NewSession hook.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	w, ok := c.NetConn().(*rewriteConn)
	if !ok {
		return nil, nil, fmt.Errorf("unexpected connection type %T", c.NetConn())
	}
	st := w.st
	s.wg.Add(1)
	st.mu.Lock()
	st.ic = c
	st.mu.Unlock()
	if st.handoff != nil {
		return s.handoffSession(st, c)
	}
	st.session = maillog.SessionID(time.Now(), st.remote)
	return &Session{srv: s, st: st, conn: c}, nil, nil
}

func (st *connState) byeText(text string) {
	st.mu.Lock()
	ic := st.ic
	st.mu.Unlock()
	if ic != nil {
		ic.Bye(text)
	} else {
		st.conn.Close()
	}
}
