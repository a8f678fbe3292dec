// SPDX-License-Identifier: MIT

// Package mta assembles a running mail transfer agent from a sendmail.cf:
// internal/smtpd's Spool writes real queue files through internal/queue,
// its Recipients come from internal/aliases and the passwd file, and
// every committed message is delivered right away (DeliveryMode
// background): local recipients with internal/deliver, others by SMTP
// with internal/deliver/remote (mailertable, smart host, MX), each
// attempt logged through internal/maillog and recorded in the qf before
// and after it. Failures go back to the sender as DSNs made by
// internal/dsn; deferred recipients wait for the queue runs (RunQueue,
// Loop, ETRN), with the cf's MinQueueAge, Timeout.queuewarn (a delay
// warning) and Timeout.queuereturn (a bounce). A message leaves the
// queue once all its recipients are done.
//
// The queue file carries what the local mailer's headers are made of
// ($r, $s, $_ and, for a command-line submission, $x), so a message
// recovered from the queue after a crash is delivered with the same
// Received header as one delivered at once.
package mta

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mailsuite/internal/aliases"
	"mailsuite/internal/deliver"
	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
	"mailsuite/pkg/shadowauth"
)

// SpoolEnv names the environment variable that overrides the mail spool
// directory (/var/mail) of the built-in local delivery agent.
const SpoolEnv = "MAILSUITE_SPOOL"

// Options configure an MTA.
type Options struct {
	// CF is the parsed sendmail.cf.
	CF *cf.Config
	// Log receives the to= lines; required.
	Log *maillog.Logger
	// Hostname is $j; empty means the cf's j macro.
	Hostname string
	// IsLocal reports whether a domain is ours (class w); nil means
	// the cf's class w and "localhost".
	IsLocal func(domain string) bool
	// SpoolDir is the mailbox directory; empty means $MAILSUITE_SPOOL,
	// then /var/mail.
	//
	// When the spool is overridden, a local mailer whose P= is procmail
	// is replaced by the built-in agent too (procmail would write to
	// /var/mail regardless); other programs run as configured.
	SpoolDir string
	// Passwd is the passwd file; empty means shadowauth.DefaultPaths.
	Passwd string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Resolver answers the courier's MX and address queries; nil means
	// remote.SystemResolver ($MAILSUITE_RESOLV_CONF, else the system's).
	Resolver *net.Resolver
	// Dial opens the courier's connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// defaultChildren bounds a queue run's parallel deliveries when the cf
// sets no MaxQueueChildren.
const defaultChildren = 8

// maxBackground bounds the background deliveries of accepted messages
// in flight at once. Sendmail's MaxQueueChildren limits queue runners
// only, and it forks one process per accepted message with no limit of
// its own; this bound only keeps a flood of acceptances from opening
// as many connections and files at once (the rest wait their turn,
// holding nothing).
const maxBackground = 512

// MTA is a queue with its local and remote delivery.
type MTA struct {
	cf       *cf.Config
	q        *queue.Queue
	log      *maillog.Logger
	hostname string
	isLocal  func(string) bool
	passwd   string
	spool    *deliver.Spool
	override bool
	maps     aliases.Maps
	exp      *aliases.Expander
	virtOnce sync.Once
	virt     *aliases.Expander // exp with the virtusertable (virtuser.go)
	now      func() time.Time
	wg       sync.WaitGroup

	rs          remoteSetup
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxChildren int
	bg          chan struct{} // background deliveries in flight
	// conns is the connection cache shared by background deliveries
	// and queue runs (ConnectionCacheSize, ConnectionCacheTimeout);
	// active counts the attempts under way that may use it.
	conns  *remote.ConnCache
	active atomic.Int64
}

// New opens the queue directory and the alias databases of o.CF.
// A missing alias database is not an error (no aliases then), as for a
// sendmail whose newaliases was never run.
func New(o Options) (*MTA, error) {
	if o.CF == nil || o.Log == nil {
		return nil, errors.New("mta: cf and log are required")
	}
	m := &MTA{cf: o.CF, log: o.Log, hostname: o.Hostname, isLocal: o.IsLocal, passwd: o.Passwd, now: o.Now, dial: o.Dial}
	m.rs.resolver = o.Resolver
	m.maxChildren = int(m.factor("MaxQueueChildren", defaultChildren))
	if m.maxChildren <= 0 {
		m.maxChildren = defaultChildren
	}
	m.bg = make(chan struct{}, maxBackground)
	m.conns = m.newConnCache()
	if m.now == nil {
		m.now = time.Now
	}
	if m.hostname == "" {
		// As internal/smtpd decides $j: the cf's Dj when it is a plain
		// name, else this host's name (a cf made by mc2cf or m4 without
		// confDOMAIN_NAME has no usable Dj, and sendmail then takes $j
		// from the host itself).
		if j, ok := o.CF.Macro("j"); ok && j != "" && !strings.Contains(j, "$") {
			m.hostname = j
		} else if h, err := os.Hostname(); err == nil {
			m.hostname = h
		}
	}
	if m.passwd == "" {
		m.passwd = shadowauth.DefaultPaths().Passwd
	}
	if m.isLocal == nil {
		m.isLocal = func(d string) bool {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			return d == "localhost" || d == strings.ToLower(m.hostname) || o.CF.InClass("w", d)
		}
	}
	dir := o.SpoolDir
	if dir == "" {
		dir = os.Getenv(SpoolEnv)
	}
	m.override = dir != ""
	m.spool = &deliver.Spool{Dir: dir, Now: m.now}
	if err := os.MkdirAll(o.CF.QueueDirectory, 0o700); err != nil {
		return nil, fmt.Errorf("queue directory: %w", err)
	}
	q, err := queue.Open(o.CF.QueueDirectory, queue.Options{
		FileMode: fs.FileMode(o.CF.QueueFileMode),
		Now:      m.now,
		Alert:    func(qid, msg string) { o.Log.Logf(maillog.MailErr, "%s: %s", qid, msg) },
	})
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	m.q = q
	var specs []string
	for _, s := range o.CF.AliasFiles {
		p := s
		if i := strings.IndexByte(p, ':'); i >= 0 && !strings.HasPrefix(p, "/") {
			p = p[i+1:]
		}
		if _, err := os.Stat(p + ".db"); err == nil {
			specs = append(specs, s)
		}
	}
	if len(specs) > 0 {
		maps, err := aliases.OpenMaps(specs)
		if err != nil {
			return nil, fmt.Errorf("open aliases: %w", err)
		}
		m.maps = maps
	}
	m.exp = &aliases.Expander{
		Lookup: func(name string) (string, bool, error) {
			if m.maps == nil {
				return "", false, nil
			}
			return m.maps.Lookup(name)
		},
		LookupUser: func(name string) (aliases.User, bool, error) {
			u, err := shadowauth.LookupUser(m.passwd, name)
			if errors.Is(err, shadowauth.ErrNotFound) {
				return aliases.User{}, false, nil
			}
			if err != nil {
				return aliases.User{}, false, err
			}
			return aliases.User{Name: u.Name, Home: u.Home, UID: u.UID}, true, nil
		},
		IsLocal:     m.isLocal,
		Hostname:    m.hostname,
		ForwardPath: o.CF.ForwardPath,
	}
	return m, nil
}

// Queue returns the queue.
func (m *MTA) Queue() *queue.Queue { return m.q }

// Recipients returns the local recipient check for the SMTP server:
// aliases, then the users of the passwd file.
func (m *MTA) Recipients() smtpd.Recipients {
	if m.virtExpander() != nil {
		return virtRecipients{m}
	}
	return m.exp
}

// IsLocal reports whether domain is delivered here (class w).
func (m *MTA) IsLocal(domain string) bool { return m.isLocal(domain) }

// Expander returns the alias expander (sendmail -bv).
func (m *MTA) Expander() *aliases.Expander { return m.exp }

// Wait waits for the deliveries started in the background.
func (m *MTA) Wait() { m.wg.Wait() }

// Close waits for background deliveries, QUITs the cached connections
// and closes the alias databases and the mailertable.
func (m *MTA) Close() error {
	m.wg.Wait()
	m.conns.Close()
	for _, mp := range []accessdb.Map{m.rs.mailertable, m.rs.authinfo} {
		if c, ok := mp.(interface{ Close() error }); ok && mp != nil {
			c.Close()
		}
	}
	if m.maps != nil {
		return m.maps.Close()
	}
	return nil
}

// background delivers id in a goroutine (DeliveryMode background), at
// most maxBackground at a time: not limited by MaxQueueChildren, which
// in sendmail limits queue runners only. The message's qf must have been
// written with its first attempt recorded (N1, K: see txn.Commit).
// l, if not nil, is the qf still locked from its writing: the attempt
// uses it when a slot is free at once; otherwise the lock is let go, so
// that a message waiting for its turn holds no file open.
func (m *MTA) background(id string, l *queue.Locked) {
	m.wg.Add(1)
	if l != nil {
		select {
		case m.bg <- struct{}{}:
			go func() {
				defer m.wg.Done()
				defer func() { <-m.bg }()
				m.backgroundAttempt(id, l)
			}()
			return
		default:
			l.Unlock()
		}
	}
	go func() {
		defer m.wg.Done()
		m.bg <- struct{}{}
		defer func() { <-m.bg }()
		m.backgroundAttempt(id, nil)
	}()
}

func (m *MTA) backgroundAttempt(id string, l *queue.Locked) {
	m.busy()
	defer m.idle()
	if err := m.attempt(context.Background(), id, attemptOptions{recorded: true, conns: m.conns, locked: l}); err != nil && !errors.Is(err, queue.ErrLocked) {
		m.log.Logf(maillog.MailErr, "%s: SYSERR: delivery: %v", id, err)
	}
}

// busy and idle bracket an attempt that may use the shared connection
// cache. When the last one ends, the idle connections are QUIT: sendmail
// keeps a connection as long as the process that delivers lives (a
// background delivery's child, a queue run), so a connection here lives
// as long as deliveries keep coming, not ConnectionCacheTimeout on an
// idle daemon, where it would hold a session open on the far side.
func (m *MTA) busy() { m.active.Add(1) }

func (m *MTA) idle() {
	if m.active.Add(-1) == 0 {
		m.conns.CloseIdle()
	}
}

// localPart splits a queued recipient address ("<b@hamap.local>", "b")
// into its local part and reports whether it is delivered here.
func (m *MTA) localPart(addr string) (string, bool) {
	a := strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	if strings.HasPrefix(a, "|") || strings.HasPrefix(a, "/") {
		return a, false
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return strings.ToLower(a), a != ""
	}
	return strings.ToLower(a[:at]), m.isLocal(a[at+1:])
}

// ctlAddr is the log's ctladdr: the sender with its uid/gid when the
// sender is a local user, "" otherwise.
func (m *MTA) ctlAddr(env *queue.Envelope) string {
	if bare(env.Sender) == "" {
		return ""
	}
	name, ok := m.localPart(env.Sender)
	if !ok || name == "" {
		// A command-line submission's sender that is no local user
		// runs as the submitting user: sendmail logs
		// "ctladdr=sender@sender.example (0/0)" for root.
		user, isCmd := strings.CutSuffix(macro(env, "_"), "@localhost")
		if !isCmd || user == "" {
			return ""
		}
		name = user
	}
	u, err := shadowauth.LookupUser(m.passwd, name)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s (%d/%d)", env.Sender, u.UID, u.GID)
}

// deliverOne hands the message to one local user's mailbox.
// exited says the status is a mailer program's exit code (a bounce's
// diagnostic is then the number, as sendmail's is).
func (m *MTA) deliverOne(ctx context.Context, mailer *cf.Mailer, de *deliver.Envelope, dfPath string, env *queue.Envelope, user string) (st deliver.Status, exited bool) {
	u, err := shadowauth.LookupUser(m.passwd, user)
	if err != nil {
		if errors.Is(err, shadowauth.ErrNotFound) {
			return deliver.StatusFor(deliver.ExNoUser, ""), false
		}
		return deliver.StatusFor(deliver.ExTempFail, err.Error()), false
	}
	df, err := os.Open(dfPath)
	if err != nil {
		return deliver.StatusFor(deliver.ExTempFail, err.Error()), false
	}
	defer df.Close()
	msg, err := m.messageReader(de, mailer.Flags, env, df)
	if err != nil {
		return deliver.StatusFor(deliver.ExTempFail, err.Error()), false
	}
	if deliver.UseBuiltIn(mailer) || (m.override && filepath.Base(mailer.Path) == "procmail") {
		return m.spool.Deliver(ctx, deliver.Recipient{Name: u.Name, UID: u.UID, GID: u.GID}, de.Sender, msg), false
	}
	p := &deliver.Program{Mailer: mailer, Sender: de.Sender, User: u.Name, Dir: m.q.Dir(), OmitSenderFlag: macro(env, "mailsuite_nof") != ""}
	return p.Run(ctx, msg), true
}

// headerText writes the message's own header back as text, ended by
// the empty line.
func headerText(h []queue.Header) string {
	var b strings.Builder
	for _, f := range h {
		b.WriteString(f.Name)
		b.WriteByte(':')
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.String()
}

func macro(env *queue.Envelope, name string) string {
	for _, mc := range env.Macros {
		if mc.Name == name {
			return mc.Value
		}
	}
	return ""
}

// deliverEnvelope rebuilds the macros of the local mailer's headers from
// the qf.
func (m *MTA) deliverEnvelope(id string, env *queue.Envelope) *deliver.Envelope {
	arrival := time.Unix(env.Created, 0).In(time.Local)
	de := &deliver.Envelope{
		QID:      id,
		Sender:   strings.TrimSuffix(strings.TrimPrefix(env.Sender, "<"), ">"),
		FullName: macro(env, "x"),
		Proto:    macro(env, "r"),
		Helo:     macro(env, "s"),
		Hostname: m.hostname,
		Arrival:  arrival,
	}
	if f := macro(env, "mailsuite_for"); f != "" {
		de.Recipients = []string{f}
	} else {
		de.HeaderRecipients = true
	}
	under := macro(env, "_")
	switch {
	case strings.HasSuffix(under, "@localhost"):
		de.LocalUser = strings.TrimSuffix(under, "@localhost")
		de.HeaderSender = de.Sender
		if !strings.Contains(de.Sender, "@") && de.Sender != "" {
			de.HeaderSender = de.Sender + "@" + m.hostname
		}
	default:
		if strings.HasSuffix(under, " (may be forged)") {
			de.Forged = true
			under = strings.TrimSuffix(under, " (may be forged)")
		}
		if i := strings.LastIndexByte(under, '['); i >= 0 {
			de.ClientName = strings.TrimSpace(under[:i])
			de.ClientAddr = strings.TrimSuffix(under[i+1:], "]")
		}
	}
	return de
}

// newConnCache is a connection cache as the cf sizes it:
// ConnectionCacheSize (sendmail's default is 1 connection, the stock
// cf's 2) and ConnectionCacheTimeout (default 5 minutes).
func (m *MTA) newConnCache() *remote.ConnCache {
	cc := &remote.ConnCache{Size: int(m.factor("ConnectionCacheSize", 1)), Timeout: 5 * time.Minute}
	for _, o := range m.cf.Options {
		if o.Name == "ConnectionCacheTimeout" && o.Sub == "" {
			if d, ok := cf.ParseDuration(o.Value, 's'); ok {
				cc.Timeout = d
			}
		}
	}
	return cc
}
