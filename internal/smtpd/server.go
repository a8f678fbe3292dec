// SPDX-License-Identifier: MIT

package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sys/unix"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/cf"
)

const logErr = maillog.MailErr

// Version is the sendmail version the daemon reports ($v and $Z).
const Version = "8.17.1.9"

// Authenticator checks SMTP AUTH credentials (pkg/shadowauth's System
// fits through AuthFunc).
type Authenticator interface {
	Authenticate(user, password string) error
}

// AuthFunc adapts a function to Authenticator.
type AuthFunc func(user, password string) error

// Authenticate implements Authenticator.
func (f AuthFunc) Authenticate(user, password string) error { return f(user, password) }

// Config is what a Server runs with. CF, Policy, Spool and Log are
// required.
type Config struct {
	CF     *cf.Config
	Policy *Policy
	Spool  Spool
	Log    *maillog.Logger
	// Hostname is $j; empty means Policy.Hostname.
	Hostname string
	// Auth enables AUTH PLAIN and LOGIN (those named in AuthMechanisms).
	Auth Authenticator
	// TLS enables STARTTLS and SMTPS listeners (modifier s).
	TLS *tls.Config
	// ETRN starts a queue run for an accepted "ETRN <arg>" and must not
	// wait for it to finish. match selects the recipients as sendmail's
	// -qR does (a case-insensitive substring of the recipient address):
	// "@arg" for "ETRN arg", "arg" for "ETRN @arg" (which therefore also
	// matches subdomains), and "" for "ETRN #mqueue", the whole default
	// queue group. An error is answered with sendmail's temporary
	// failure reply. Nil accepts ETRN and runs nothing.
	ETRN func(ctx context.Context, match string) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is sendmail's SMTP daemon: one go-smtp server per
// DaemonPortOptions socket, sharing the policy and the spool.
type Server struct {
	cfgMu sync.RWMutex
	cfg   Config

	mu        sync.Mutex
	listeners []*listener
	closed    bool
	// shutting is set when Shutdown begins: a session waiting for a
	// command outside a transaction ends then (see front.Read).
	shutting atomic.Bool
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) (*Server, error) {
	if cfg.CF == nil || cfg.Policy == nil || cfg.Spool == nil || cfg.Log == nil {
		return nil, errors.New("smtpd: config needs CF, Policy, Spool and Log")
	}
	return &Server{cfg: cfg}, nil
}

// Reload replaces the configuration (SIGHUP): connections opened from
// now on use it, open ones keep theirs.
func (s *Server) Reload(cfg Config) error {
	if cfg.CF == nil || cfg.Policy == nil || cfg.Spool == nil || cfg.Log == nil {
		return errors.New("smtpd: config needs CF, Policy, Spool and Log")
	}
	s.cfgMu.Lock()
	s.cfg = cfg
	s.cfgMu.Unlock()
	return nil
}

func (s *Server) config() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg
}

func (s *Server) policy() *Policy { return s.config().Policy }

func (s *Server) tlsConfig() *tls.Config { return s.config().TLS }

func (s *Server) now() time.Time {
	if n := s.config().Now; n != nil {
		return n()
	}
	return time.Now()
}

func (s *Server) hostname() string {
	c := s.config()
	if c.Hostname != "" {
		return c.Hostname
	}
	return c.Policy.Hostname
}

func (s *Server) version() string { return Version }

// freeSpace is the free space of the queue directory, for SIZE=.
func (s *Server) freeSpace() int64 {
	dir := s.config().CF.QueueDirectory
	if dir == "" {
		return 1<<62 - 1
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return 1<<62 - 1
	}
	return int64(fs.Bavail) * int64(fs.Bsize)
}

// expand replaces the macros sendmail's greeting may use: $j, $v, $Z,
// $b, $w, $m, $_, ${client_addr}, ${client_name}, ${client_resolve},
// ${daemon_name} (also in the $&x form), and the conditionals
// $?x…$|…$. that Debian's greeting uses. Unknown macros expand to
// nothing, as undefined macros do in sendmail.
func (s *Server) expand(msg string, st *connState) string {
	var b strings.Builder
	host := s.hostname()
	short, dom, _ := strings.Cut(host, ".")
	macro := func(name string) string {
		switch name {
		case "j":
			return host
		case "w":
			return short
		case "m":
			return dom
		case "v", "Z":
			return Version
		case "b":
			return arpaDate(s.now())
		case "client_addr":
			return st.client.AddrMacro
		case "client_name":
			return st.client.Name
		case "client_resolve":
			return st.client.Resolve
		case "daemon_name":
			return st.l.opts.Name
		case "_":
			return st.relayHello()
		}
		return ""
	}
	// Conditionals $?x then $| else $. nest; skip counts the levels
	// whose text is being left out.
	type cond struct{ taking, parentTaking bool }
	var stack []cond
	taking := true
	readName := func(i int) (string, int) {
		if i < len(msg) && msg[i] == '&' {
			i++
		}
		if i >= len(msg) {
			return "", i
		}
		if msg[i] == '{' {
			end := strings.IndexByte(msg[i:], '}')
			if end < 0 {
				return "", len(msg)
			}
			return msg[i+1 : i+end], i + end + 1
		}
		return msg[i : i+1], i + 1
	}
	for i := 0; i < len(msg); {
		c := msg[i]
		if c != '$' || i+1 >= len(msg) {
			if taking {
				b.WriteByte(c)
			}
			i++
			continue
		}
		switch msg[i+1] {
		case '$':
			if taking {
				b.WriteByte('$')
			}
			i += 2
		case '?':
			name, next := readName(i + 2)
			stack = append(stack, cond{taking: macro(name) != "", parentTaking: taking})
			taking = taking && macro(name) != ""
			i = next
		case '|':
			if n := len(stack); n > 0 {
				stack[n-1].taking = !stack[n-1].taking
				taking = stack[n-1].parentTaking && stack[n-1].taking
			}
			i += 2
		case '.':
			if n := len(stack); n > 0 {
				taking = stack[n-1].parentTaking
				stack = stack[:n-1]
			}
			i += 2
		default:
			name, next := readName(i + 1)
			if taking {
				b.WriteString(macro(name))
			}
			i = next
		}
	}
	return b.String()
}

// arpaDate formats $b: RFC 822 time in the local zone, "GMT" for UTC.
func arpaDate(t time.Time) string {
	if _, off := t.Zone(); off == 0 {
		return t.Format("Mon, 2 Jan 2006 15:04:05") + " GMT"
	}
	return t.Format("Mon, 2 Jan 2006 15:04:05 -0700 (MST)")
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// listener is one daemon socket.
type listener struct {
	net.Listener
	srv  *Server
	opts cf.PortOptions
	smtp *smtp.Server

	slots chan struct{} // MaxDaemonChildren
	rate  struct {
		sync.Mutex
		second int64
		count  int
	}
	open atomic.Int64
	// fronts are the sessions open on this listener.
	fronts sync.Map // *front → struct{}
}

// Accept applies MaxDaemonChildren (no accept while that many sessions
// run, as sendmail stops accepting) and ConnectionRateThrottle (accepts
// past the per-second limit wait for the next second), then wraps the
// socket in the front.
func (l *listener) Accept() (net.Conn, error) {
	if l.slots != nil {
		l.slots <- struct{}{}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.slots != nil {
			<-l.slots
		}
		return nil, err
	}
	if max := l.srv.config().CF.ConnectionRateThrottle; max > 0 {
		l.throttle(max)
	}
	if l.opts.HasModifier('s') {
		if tc := l.srv.tlsConfig(); tc != nil {
			c = tls.Server(c, tc)
		}
	}
	l.open.Add(1)
	f := newFront(c, l)
	l.fronts.Store(f, struct{}{})
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc
		f.st.tls = true
	}
	return f, nil
}

func (l *listener) throttle(max int) {
	for {
		l.rate.Lock()
		now := time.Now()
		sec := now.Unix()
		if sec != l.rate.second {
			l.rate.second, l.rate.count = sec, 0
		}
		if l.rate.count < max {
			l.rate.count++
			l.rate.Unlock()
			return
		}
		l.rate.Unlock()
		time.Sleep(time.Until(time.Unix(sec+1, 0)))
	}
}

// release frees the connection's MaxDaemonChildren slot.
func (l *listener) release() {
	l.open.Add(-1)
	if l.slots != nil {
		<-l.slots
	}
}

// Serve answers SMTP on ln as the daemon described by po, until
// Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener, po cf.PortOptions) error {
	l := &listener{Listener: ln, srv: s, opts: po}
	if n := s.config().CF.MaxDaemonChildren; n > 0 {
		l.slots = make(chan struct{}, n)
	}
	srv := smtp.NewServer(backend{})
	srv.Domain = s.hostname()
	srv.MaxLineLength = 0
	srv.AllowInsecureAuth = true
	// go-smtp reports panics it recovered and connection errors here:
	// operator logging, not mail log lines.
	srv.ErrorLog = slog.NewLogLogger(slog.Default().Handler(), slog.LevelError)
	l.smtp = srv
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return smtp.ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	err := srv.Serve(l)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Listen opens the sockets of every DaemonPortOptions line (sendmail's
// default, port 25 on every IPv4 address, when there is none).
func Listen(cfg *cf.Config) ([]net.Listener, []cf.PortOptions, error) {
	opts := cfg.DaemonPortOptions
	if len(opts) == 0 {
		opts = []cf.PortOptions{{Name: "Daemon0", Port: "smtp", Family: "inet"}}
	}
	var lns []net.Listener
	var used []cf.PortOptions
	for _, po := range opts {
		network := "tcp4"
		switch po.Family {
		case "inet6":
			network = "tcp6"
		case "local", "unix":
			network = "unix"
		}
		addr := po.Addr
		if network != "unix" {
			port, err := po.PortNumber()
			if err != nil {
				closeAll(lns)
				return nil, nil, fmt.Errorf("daemon %s: port %q: %w", po.Name, po.Port, err)
			}
			addr = net.JoinHostPort(po.Addr, strconv.Itoa(port))
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			if po.HasModifier('O') {
				continue
			}
			closeAll(lns)
			return nil, nil, fmt.Errorf("daemon %s: %w", po.Name, err)
		}
		lns = append(lns, ln)
		used = append(used, po)
	}
	return lns, used, nil
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// Shutdown stops accepting and waits for the sessions to end; when ctx
// expires first, the remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ls := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()
	// As sendmail's daemon ends its children at SIGTERM, sessions
	// idle between transactions (a peer's cached connection, say) end
	// now; one with a transaction open has the grace of ctx to finish
	// it, and ends when it next waits outside one.
	s.shutting.Store(true)
	for _, l := range ls {
		l.fronts.Range(func(k, _ any) bool {
			if f := k.(*front); f.idle.Load() {
				f.raw.Close()
			}
			return true
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.smtp.Shutdown(ctx); err != nil {
				l.smtp.Close()
				if !errors.Is(err, smtp.ErrServerClosed) {
					errs[i] = err
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// backend hands go-smtp the session of the front it serves.
type backend struct{}

func (backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	f, ok := c.Conn().(*front)
	if !ok {
		return nil, errors.New("smtpd: connection without front")
	}
	return &session{st: f.st}, nil
}
