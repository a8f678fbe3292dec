// SPDX-License-Identifier: MIT

// Package remote is sendmaild's SMTP courier: it delivers one message to
// the recipients of one destination (a domain, a mailertable relay or the
// smart host) the way Sendmail 8.17's relay, esmtp and smtp mailers do.
// It finds the hosts (mailertable relay, DS smart host with "[host]"
// meaning no MX lookup, else MX records in preference order with equal
// preferences shuffled, else the address records), skips our own names
// and addresses ("config error: mail loops back to me (MX problem?)"),
// sends all recipients over one connection per host, uses STARTTLS when
// offered without requiring a trusted certificate unless told to, passes
// SIZE and the DSN parameters on, converts 8-bit MIME bodies to
// quoted-printable for a server without 8BITMIME, and classifies every
// recipient's outcome with Sendmail's stat= texts and DSN codes.
//
// It does not queue, retry, log or write bounces: the queue runner
// records Results, writes the maillog To lines and builds notifications
// with internal/dsn from them.
package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"mailsuite/internal/deliver"
	"mailsuite/pkg/cf"
)

// Courier delivers messages by SMTP. The zero value is not usable:
// Resolver and HeloName are needed.
type Courier struct {
	// Resolver answers MX and address queries.
	Resolver Resolver
	// HeloName is the EHLO argument ($j).
	HeloName string
	// LocalNames and LocalAddrs are class w: our own names and addresses.
	LocalNames []string
	LocalAddrs []netip.Addr
	// SmartHost is the DS value ("relay:[smtp.isp.example]", "[host]",
	// "host"); empty means none.
	SmartHost string
	// Mailertable looks a key up in the mailertable map ("a.example",
	// then ".example"); it returns the value ("esmtp:[mx.example]") and
	// whether there was one. Values with the local or error mailer are
	// the caller's: it must not hand those recipients to the courier.
	Mailertable func(domain string) (string, bool)
	// Port is the mailer's port (from "A=TCP $h port"); 0 means 25.
	Port int
	// Timeouts are the cf's Timeout.* values; zero ones get sendmail's
	// defaults.
	Timeouts cf.Timeouts
	// TLS is the client TLS configuration; nil means opportunistic
	// STARTTLS with no certificate verification. VerifyTLS makes a
	// failed verification defer the delivery.
	TLS       *tls.Config
	VerifyTLS bool
	// Dial opens connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AuthInfo looks a key up in the authinfo map
	// (FEATURE(authinfo)): "AuthInfo:smtp.isp.example" gives
	// `"U:user" "P:secret" "M:PLAIN"`. Nil means no client AUTH.
	AuthInfo func(key string) (string, bool)
	// Cache keeps connections between deliveries; nil means a QUIT
	// after every delivery.
	Cache *ConnCache
	// Mailer is the mailer's name, for Progress ("esmtp", "relay").
	Mailer string
	// Progress receives sendmail -v's connection lines: "Connecting to
	// mx.example. via esmtp..." with the recipients it is for, and
	// "Closing connection to mx.example." with none. Nil means none;
	// a courier with Progress shares cached connections only with
	// others that have it.
	Progress func(rcpts []string, line string)
}

// MailerPort returns the port of a mailer's "A=TCP $h port" arguments,
// or 25.
func MailerPort(m *cf.Mailer) int {
	if m != nil && len(m.Argv) >= 3 && m.Argv[0] == "TCP" {
		var p int
		if _, err := fmt.Sscan(m.Argv[2], &p); err == nil && p > 0 && p < 65536 {
			return p
		}
	}
	return 25
}

// Message is what one delivery carries.
type Message struct {
	// From is the envelope sender without brackets ("" is the null sender).
	From string
	// Rcpts are the recipients, all for Domain.
	Rcpts []Rcpt
	// Domain is the recipients' domain.
	Domain string
	// Open returns the message (headers and body, LF or CRLF line ends)
	// from its start; it is called once per connection.
	Open func() (io.ReadCloser, error)
	// Size is the message size for the SIZE parameter; 0 leaves it out.
	Size int64
	// EightBit says the body is 8BITMIME; BodyType is the BODY= the
	// client declared ("7BIT", "8BITMIME"), passed on to a server that
	// offers 8BITMIME.
	EightBit bool
	BodyType string
	// Ret and EnvID are the RET and ENVID parameters of MAIL; EnvID
	// is xtext, as received and queued, and goes out as it is.
	Ret   smtp.DSNReturn
	EnvID string
}

// Rcpt is one recipient with its DSN parameters.
type Rcpt struct {
	Addr   string
	Notify []smtp.DSNNotify
	ORCPT  string // "rfc822;x@y", xtext as received, sent as it is
}

// Result is one recipient's outcome.
type Result struct {
	Rcpt string
	// Status is the outcome in Sendmail's terms: Stat ("Sent (2.0.0 Ok)",
	// "Deferred: Connection refused by mx.example.", "User unknown"),
	// DSN, and the sysexits Code that says whether to retry.
	deliver.Status
	// Relay is the log's relay= ("mx.example. [192.0.2.1]"); RemoteMTA
	// the bounce's Remote-MTA; Reply the far side's reply line, if any.
	Relay, RemoteMTA, Reply string
	// TLS says the message went over STARTTLS; AuthMech names the SASL
	// mechanism we logged in with ("" for none).
	TLS      bool
	AuthMech string
	// Transcript is the bounce transcript for this recipient.
	Transcript string
	// OfferedDSN says the server offered the DSN extension (so NOTIFY
	// went along and a return receipt is its business); RcptReply is
	// its reply to this recipient's RCPT, the Diagnostic-Code of a
	// "relayed" receipt.
	OfferedDSN bool
	RcptReply  string
}

func (c *Courier) timeout(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Deliver sends msg and returns one Result per recipient, in order.
func (c *Courier) Deliver(ctx context.Context, msg *Message) []Result {
	target, literal := msg.Domain, false
	if v, ok := c.lookupMailertable(msg.Domain); ok {
		target, literal = splitRelay(v)
	} else if c.SmartHost != "" {
		target, literal = splitRelay(c.SmartHost)
	}
	hosts, err := c.route(ctx, target, literal)
	if err != nil {
		return all(msg, routeStatus(err))
	}
	var last []Result
	for _, h := range hosts {
		for _, a := range h.Addrs {
			res, retry := c.attempt(ctx, msg, h, a)
			if !retry {
				return res
			}
			last = res
		}
	}
	return last
}

// lookupMailertable tries the domain, then its parent domains with a
// leading dot (".example.org", ".org"), as FEATURE(mailertable) does.
func (c *Courier) lookupMailertable(domain string) (string, bool) {
	if c.Mailertable == nil {
		return "", false
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if v, ok := c.Mailertable(domain); ok {
		return v, true
	}
	for d := domain; ; {
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return "", false
		}
		d = d[i+1:]
		if v, ok := c.Mailertable("." + d); ok {
			return v, true
		}
	}
}

func all(msg *Message, r Result) []Result {
	out := make([]Result, len(msg.Rcpts))
	for i, rc := range msg.Rcpts {
		out[i] = r
		out[i].Rcpt = rc.Addr
		if r.Transcript == "" {
			out[i].Transcript = rc.Addr + "... " + r.Stat
		}
	}
	return out
}

func routeStatus(err error) Result {
	var nh *errNoHost
	switch {
	case errors.Is(err, errLoop):
		s := deliver.StatusFor(deliver.ExConfig, "")
		s.DSN, s.Report, s.Stat = "5.3.5", "5.3.5", "Local configuration error"
		s.Detail = err.Error()
		return Result{Status: s, Transcript: "554 5.3.5 " + err.Error()}
	case errors.As(err, &nh) && nh.temp:
		s := deliver.StatusFor(deliver.ExTempFail, "")
		s.DSN, s.Report, s.Stat = "4.4.3", "4.4.3", "Deferred: "+nh.Error()
		return Result{Status: s}
	case errors.As(err, &nh):
		s := deliver.StatusFor(deliver.ExNoHost, "")
		s.Stat = "Host unknown (" + nh.Error() + ")"
		return Result{Status: s}
	}
	s := deliver.StatusFor(deliver.ExTempFail, err.Error())
	return Result{Status: s}
}

// attempt delivers over one connection: a cached one to the same
// address when there is one, else a new one. retry says the next address
// should be tried (the connection or the greeting failed).
func (c *Courier) attempt(ctx context.Context, msg *Message, h mxHost, a netip.Addr) (res []Result, retry bool) {
	port := c.Port
	if port == 0 {
		port = 25
	}
	relay := h.relay(a)
	base := Result{Relay: relay, RemoteMTA: h.Name}
	key := strings.Join([]string{h.Name, hostPort(a, port), c.HeloName, strconv.FormatBool(c.Progress != nil)}, "\x00")
	s := c.Cache.take(key)
	if s != nil {
		c.progress(msg, "Using cached ESMTP connection to %s via %s...", h.Name, c.Mailer)
	} else {
		if port != 25 {
			c.progress(msg, "Connecting to %s port %d via %s...", h.Name, port, c.Mailer)
		} else {
			c.progress(msg, "Connecting to %s via %s...", h.Name, c.Mailer)
		}
		var failed []Result
		s, failed = c.connect(ctx, msg, h, a, port, base)
		if s == nil {
			return failed, true
		}
		s.key = key
	}
	// A cancelled context ends the attempt: closing the connection
	// unblocks whatever is waiting on it.
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	next := stateBroken
	defer func() {
		if !stop() {
			next = stateBroken // the context closed the connection
		}
		switch next {
		case stateReuse:
			c.Cache.put(s)
		case stateQuit:
			s.close()
		default:
			s.cl.Close()
		}
	}()
	base.TLS, base.AuthMech = s.tls, s.auth
	res, next = c.transaction(s, msg, h, base)
	return res, false
}

// connect dials an address and does the greeting, EHLO, STARTTLS and
// AUTH. On failure it returns the recipients' results instead.
func (c *Courier) connect(ctx context.Context, msg *Message, h mxHost, a netip.Addr, port int, base Result) (*session, []Result) {
	dial := c.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: c.timeout(c.Timeouts.Connect, 0)}
		if d.Timeout == 0 {
			d.Timeout = 5 * time.Minute
		}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", hostPort(a, port))
	if err != nil {
		return nil, all(msg, connStatus(base, h, err))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var cfg *tls.Config
	if c.TLS != nil {
		cfg = c.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" && !strings.HasPrefix(h.Name, "[") {
		cfg.ServerName = strings.TrimSuffix(h.Name, ".")
	}
	if !c.VerifyTLS {
		// Opportunistic TLS: an untrusted certificate still beats
		// plain text (sendmail delivers and logs verify=FAIL).
		cfg.InsecureSkipVerify = true
	}
	op, err := open(conn, c.HeloName, cfg, c.timeout(c.Timeouts.Initial, 5*time.Minute))
	var te *tlsError
	if err != nil && errors.As(err, &te) && !c.VerifyTLS {
		// Like sendmail, a failed STARTTLS is retried on a new
		// connection without it, unless the cf requires verification.
		conn.Close()
		if conn, err = dial(ctx, "tcp", hostPort(a, port)); err != nil {
			return nil, all(msg, connStatus(base, h, err))
		}
		defer context.AfterFunc(ctx, func() { conn.Close() })()
		op, err = open(conn, c.HeloName, nil, c.timeout(c.Timeouts.Initial, 5*time.Minute))
	}
	if err != nil {
		conn.Close()
		var te *textproto.Error
		if errors.As(err, &te) {
			return nil, all(msg, replyStatus(base, "greeting", &smtp.SMTPError{Code: te.Code, Message: te.Msg}, false))
		}
		return nil, all(msg, connStatus(base, h, err))
	}
	cl := smtp.NewClient(op.conn)
	// Each command gets its own Timeout.* as in sendmail (go-smtp reads
	// CommandTimeout at every command).
	cl.SubmissionTimeout = c.timeout(c.Timeouts.DataFinal, time.Hour)
	cl.CommandTimeout = c.timeout(c.Timeouts.Helo, 5*time.Minute)
	if err := cl.Hello(c.HeloName); err != nil {
		cl.Close()
		return nil, all(msg, replyStatus(base, "EHLO", err, false))
	}
	return &session{
		conn: op.conn, cl: cl, tls: op.tls, host: h.Name, progress: c.Progress,
		auth:  c.authenticate(cl, h, a),
		quit:  c.timeout(c.Timeouts.Quit, 2*time.Minute),
		probe: c.timeout(c.Timeouts.Misc, 2*time.Minute),
	}, nil
}

// progress writes one of sendmail -v's lines about a connection for
// msg's recipients.
func (c *Courier) progress(msg *Message, format string, args ...any) {
	if c.Progress != nil {
		rcpts := make([]string, len(msg.Rcpts))
		for i, r := range msg.Rcpts {
			rcpts[i] = r.Addr
		}
		c.Progress(rcpts, fmt.Sprintf(format, args...))
	}
}

var enhanced = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

func ext(cl *smtp.Client, name string) bool {
	ok, _ := cl.Extension(name)
	return ok
}

// connStatus is the deferral for a connection that failed or broke.
func connStatus(base Result, h mxHost, err error) Result {
	s := deliver.StatusFor(deliver.ExTempFail, "")
	s.DSN, s.Report = "4.4.1", "4.4.1"
	name := h.Name
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		s.Stat = "Deferred: Connection refused by " + name
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		s.DSN, s.Report = "4.4.2", "4.4.2"
		s.Stat = "Deferred: Connection timed out with " + name
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		s.DSN, s.Report = "4.4.2", "4.4.2"
		s.Stat = "Deferred: Connection reset by " + name
	default:
		s.Stat = "Deferred: " + err.Error()
	}
	base.Status = s
	return base
}

// replyStatus classifies an error from a command: an SMTP reply (4xx
// deferred, 5xx failed) or a broken connection.
func replyStatus(base Result, cmd string, err error, rcpt bool) Result {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		h := mxHost{Name: base.RemoteMTA}
		return connStatus(base, h, err)
	}
	base.Reply = FormatReply(se)
	code := se.EnhancedCode
	dsn := ""
	if code != smtp.NoEnhancedCode && code != (smtp.EnhancedCode{}) {
		dsn = fmt.Sprintf("%d.%d.%d", code[0], code[1], code[2])
	}
	var s deliver.Status
	switch {
	case se.Code/100 == 4:
		s = deliver.StatusFor(deliver.ExTempFail, "")
		s.Stat = "Deferred: " + base.Reply
		if dsn == "" {
			dsn = "4.0.0"
		}
	case rcpt && (se.Code == 550 || se.Code == 551 || se.Code == 553):
		s = deliver.StatusFor(deliver.ExNoUser, "")
	default:
		s = deliver.StatusFor(deliver.ExUnavailable, "")
		if dsn == "" {
			dsn = "5.0.0"
		}
	}
	if dsn != "" {
		s.DSN, s.Report = dsn, dsn
	}
	s.Detail = cmd + ": " + base.Reply
	base.Status = s
	return base
}

// FormatReply writes a far-side reply back as one line: "550 5.1.1 text".
func FormatReply(se *smtp.SMTPError) string {
	code := se.EnhancedCode
	if code == smtp.NoEnhancedCode || code == (smtp.EnhancedCode{}) {
		return fmt.Sprintf("%d %s", se.Code, se.Message)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, code[0], code[1], code[2], se.Message)
}
