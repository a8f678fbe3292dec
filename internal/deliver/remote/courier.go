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
	// EightBit says the body is 8BITMIME.
	EightBit bool
	// Ret and EnvID are the RET and ENVID parameters of MAIL.
	Ret   smtp.DSNReturn
	EnvID string
}

// Rcpt is one recipient with its DSN parameters.
type Rcpt struct {
	Addr   string
	Notify []smtp.DSNNotify
	ORCPT  string // "rfc822;x@y"
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

// attempt delivers over one connection. retry says the next address
// should be tried (the connection or the greeting failed).
func (c *Courier) attempt(ctx context.Context, msg *Message, h mxHost, a netip.Addr) (res []Result, retry bool) {
	port := c.Port
	if port == 0 {
		port = 25
	}
	dial := c.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: c.timeout(c.Timeouts.Connect, 0)}
		if d.Timeout == 0 {
			d.Timeout = 5 * time.Minute
		}
		dial = d.DialContext
	}
	relay := h.relay(a)
	base := Result{Relay: relay, RemoteMTA: h.Name}
	conn, err := dial(ctx, "tcp", hostPort(a, port))
	if err != nil {
		return all(msg, connStatus(base, h, err)), true
	}
	// A cancelled context ends the attempt: closing the connection
	// unblocks whatever is waiting on it.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
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
			return all(msg, connStatus(base, h, err)), true
		}
		defer context.AfterFunc(ctx, func() { conn.Close() })()
		op, err = open(conn, c.HeloName, nil, c.timeout(c.Timeouts.Initial, 5*time.Minute))
	}
	if err != nil {
		conn.Close()
		var te *textproto.Error
		if errors.As(err, &te) {
			return all(msg, replyStatus(base, "greeting", &smtp.SMTPError{Code: te.Code, Message: te.Msg}, false)), true
		}
		return all(msg, connStatus(base, h, err)), true
	}
	base.TLS = op.tls
	tap := &replyTap{Conn: op.conn}
	cl := smtp.NewClient(tap)
	defer cl.Close()
	// Each command gets its own Timeout.* as in sendmail (go-smtp reads
	// CommandTimeout at every command).
	cl.SubmissionTimeout = c.timeout(c.Timeouts.DataFinal, time.Hour)
	tr := "... while talking to " + strings.TrimSuffix(h.Name, ".") + ":\n"
	cl.CommandTimeout = c.timeout(c.Timeouts.Helo, 5*time.Minute)
	if err := cl.Hello(c.HeloName); err != nil {
		return all(msg, replyStatus(base, "EHLO", err, false)), true
	}
	base.OfferedDSN, _ = cl.Extension("DSN")
	base.AuthMech = c.authenticate(cl, h, a)
	body, err := msg.Open()
	if err != nil {
		s := deliver.StatusFor(deliver.ExTempFail, err.Error())
		return all(msg, Result{Status: s}), false
	}
	defer body.Close()
	var src io.Reader = body
	if msg.EightBit {
		if ok, _ := cl.Extension("8BITMIME"); !ok {
			src, err = To7Bit(body)
			if err != nil {
				s := deliver.StatusFor(deliver.ExDataErr, "")
				s.Detail = err.Error()
				return all(msg, Result{Status: s}), false
			}
		}
	}
	mo := &smtp.MailOptions{Size: msg.Size, Return: msg.Ret, EnvelopeID: msg.EnvID}
	cl.CommandTimeout = c.timeout(c.Timeouts.Mail, 10*time.Minute)
	if err := cl.Mail(msg.From, mo); err != nil {
		r := replyStatus(base, "MAIL", err, false)
		out := all(msg, r)
		for i := range out {
			out[i].Transcript = tr + ">>> MAIL From:<" + msg.From + ">\n<<< " + r.Reply + "\n" + out[i].Transcript
		}
		return out, false
	}
	cl.CommandTimeout = c.timeout(c.Timeouts.Rcpt, time.Hour)
	res = make([]Result, len(msg.Rcpts))
	var ok []int
	for i, rc := range msg.Rcpts {
		ro := &smtp.RcptOptions{Notify: rc.Notify}
		if t, addr, found := strings.Cut(rc.ORCPT, ";"); found && strings.EqualFold(t, "rfc822") {
			ro.OriginalRecipientType, ro.OriginalRecipient = smtp.DSNAddressTypeRFC822, addr
		}
		if err := cl.Rcpt(rc.Addr, ro); err != nil {
			r := replyStatus(base, "RCPT", err, true)
			r.Rcpt = rc.Addr
			r.Transcript = tr + ">>> RCPT To:<" + rc.Addr + ">\n<<< " + r.Reply + "\n" + r.Status.Transcript(rc.Addr) + "\n"
			res[i] = r
			continue
		}
		res[i].RcptReply = tap.last()
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		cl.Quit()
		return res, false
	}
	setAll := func(r Result) {
		for _, i := range ok {
			rr := res[i].RcptReply
			res[i] = r
			res[i].Rcpt, res[i].RcptReply = msg.Rcpts[i].Addr, rr
		}
	}
	cl.CommandTimeout = c.timeout(c.Timeouts.DataInit, 5*time.Minute)
	w, err := cl.Data()
	if err != nil {
		r := replyStatus(base, "DATA", err, false)
		r.Transcript = tr + ">>> DATA\n<<< " + r.Reply + "\n"
		setAll(r)
		return res, false
	}
	// go-smtp puts no deadline on the body: Timeout.datablock bounds it.
	op.conn.SetDeadline(time.Now().Add(c.timeout(c.Timeouts.DataBlock, time.Hour)))
	if _, err := io.Copy(w, src); err != nil {
		w.Close()
		setAll(connStatus(base, h, err))
		return res, false
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		r := replyStatus(base, "DATA", err, false)
		r.Transcript = tr + ">>> .\n<<< " + r.Reply + "\n"
		setAll(r)
		return res, false
	}
	s := deliver.StatusFor(deliver.ExOK, "")
	// Sendmail's stat= leaves the enhanced code out of the reply text
	// ("Sent (Ok: queued as X)") and puts it in dsn=.
	text := resp.StatusText
	if code, rest, ok := strings.Cut(text, " "); ok && enhanced.MatchString(code) && ext(cl, "ENHANCEDSTATUSCODES") {
		text = rest
		s.DSN = code
	}
	s.Stat = "Sent (" + text + ")"
	r := base
	r.Status = s
	r.Reply = "250 " + resp.StatusText
	setAll(r)
	cl.CommandTimeout = c.timeout(c.Timeouts.Quit, 2*time.Minute)
	cl.Quit()
	return res, false
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
