// SPDX-License-Identifier: MIT

package smtpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The front is the net.Conn go-smtp serves. go-smtp v0.25.1 writes fixed
// texts of its own for the greeting, EHLO, the success replies and the
// sequence errors, and answers VRFY, EXPN, HELP and unknown commands
// itself; Sendmail's texts differ in all of them. The front reads the
// client's commands first: it answers those whose reply go-smtp cannot
// produce (sequence errors, syntax errors, VRFY/EXPN/HELP/ETRN/NOOP/QUIT,
// STARTTLS), hands the others to go-smtp, which calls the Session, and
// replaces go-smtp's success texts by Sendmail's. Refusals come from the
// Session as *smtp.SMTPError and pass through unchanged. Every reply line
// therefore comes from the table in replies.go.

// expectation says what the front does with go-smtp's reply to the line
// it was last given.
type expectation int

const (
	expPass expectation = iota
	expGreeting
	expHelo
	expMail
	expRcpt
	expData
	expDataEnd
	expRset
	expAuth
	expSilent
)

// fwd is a line handed to go-smtp, with what to do with its reply.
type fwd struct {
	line   string
	expect expectation
}

var errClosed = errors.New("connection closed")

type front struct {
	raw  net.Conn // the socket
	conn net.Conn // raw, or the TLS connection over it
	br   *bufio.Reader
	l    *listener
	st   *connState

	wmu    sync.Mutex
	wbuf   []byte
	closed bool

	queue   []fwd
	feed    []byte // bytes of the current line not yet read by go-smtp
	expect  expectation
	data    bool // reading DATA
	auth    bool // inside an AUTH exchange
	dataErr error
	lastCmd string // sendmail's name of the last command read, for "after …"
	// idle is set while the session waits for a command with no
	// transaction open: Shutdown may then close it.
	idle atomic.Bool
	// DATA line state.
	lineStart, prevCR bool
}

func newFront(c net.Conn, l *listener) *front {
	f := &front{raw: c, conn: c, l: l, expect: expGreeting}
	f.br = bufio.NewReaderSize(c, 4096)
	f.st = newConnState(f, l)
	return f
}

func (f *front) LocalAddr() net.Addr                { return f.raw.LocalAddr() }
func (f *front) RemoteAddr() net.Addr               { return f.raw.RemoteAddr() }
func (f *front) SetDeadline(t time.Time) error      { return nil }
func (f *front) SetReadDeadline(t time.Time) error  { return nil }
func (f *front) SetWriteDeadline(t time.Time) error { return nil }

// Close is called by go-smtp when the connection ends.
func (f *front) Close() error {
	if f.l != nil {
		f.l.fronts.Delete(f)
	}
	f.wmu.Lock()
	f.closed = true
	f.wmu.Unlock()
	f.st.finish()
	return f.conn.Close()
}

// send writes reply lines to the client.
func (f *front) send(lines ...string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.closed {
		return
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	if t := f.st.cfg.CF.Timeouts.Misc; t > 0 {
		f.conn.SetWriteDeadline(time.Now().Add(t))
	}
	f.conn.Write(b.Bytes())
}

// hangup ends the session after a final reply: its end is logged
// first, then the socket closed, so that whoever waits for the close
// (sendmail -bs returning, a test reading the log) finds the log line.
func (f *front) hangup() {
	f.st.finish()
	f.drop()
}

// drop closes the socket but leaves the end of the session to go-smtp's
// Close, so that a DATA cut short is logged with what was read.
func (f *front) drop() {
	f.wmu.Lock()
	f.closed = true
	f.wmu.Unlock()
	f.conn.Close()
}

// Write receives go-smtp's replies, line by line.
func (f *front) Write(p []byte) (int, error) {
	f.wbuf = append(f.wbuf, p...)
	for {
		i := bytes.Index(f.wbuf, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(f.wbuf[:i])
		f.wbuf = f.wbuf[i+2:]
		f.reply(line)
	}
	return len(p), nil
}

// reply translates one line go-smtp wrote.
func (f *front) reply(line string) {
	final := len(line) < 4 || line[3] != '-'
	code, _ := strconv.Atoi(line[:min(3, len(line))])
	switch f.expect {
	case expGreeting:
		f.expect = expPass
		f.greet()
	case expHelo:
		if !final {
			return
		}
		if code == 250 {
			f.send(f.st.helloLines()...)
		} else {
			f.send(line)
		}
	case expMail:
		if code == 250 {
			f.st.mailAccepted()
			f.send(rSenderOK.line(f.st.mailEcho))
			return
		}
		f.send(line)
	case expRcpt:
		if code == 250 {
			f.send(rRecipientOK.line(f.st.rcptAccepted()))
			return
		}
		f.send(line)
	case expData:
		if code == 354 {
			f.data, f.lineStart, f.prevCR = true, true, false
			f.expect = expDataEnd
			f.send(rStartData.line())
			return
		}
		f.st.endTransaction()
		f.send(line)
	case expDataEnd:
		f.st.endTransaction()
		f.send(line)
	case expRset:
		if code == 250 {
			f.send(rRset.line())
			return
		}
		f.send(line)
	case expAuth:
		if code == 334 {
			f.send(line)
			return
		}
		f.auth = false
		if code == 235 {
			f.send(rAuthOK.line())
			return
		}
		if strings.HasPrefix(line, "501 5.0.0 Negotiation cancelled") {
			f.send(rAuthAborted.line())
			return
		}
		f.send(line)
	case expSilent:
	default:
		f.send(line)
	}
}

// greet runs the connection checks and writes the banner.
func (f *front) greet() {
	refusal := f.st.connect()
	if strings.HasPrefix(refusal, "421") && !f.st.pol.Features.DelayChecks {
		f.st.greetRefused = true
		f.send(refusal)
		f.hangup()
		return
	}
	f.send(rGreeting.line(f.st.banner()))
}

// Read hands go-smtp the next line it should see.
func (f *front) Read(p []byte) (int, error) {
	for len(f.feed) == 0 {
		if f.dataErr != nil {
			// The DATA reader gets the error once; go-smtp's next
			// read sees the end of the connection.
			err := f.dataErr
			f.dataErr = io.EOF
			return 0, err
		}
		if len(f.queue) > 0 {
			next := f.queue[0]
			f.queue = f.queue[1:]
			f.feed = []byte(next.line + "\r\n")
			f.expect = next.expect
			if next.expect == expAuth {
				f.auth = true
			}
			break
		}
		if f.isClosed() {
			return 0, io.EOF
		}
		if f.data {
			line, err := f.readData()
			if err != nil {
				f.dataErr = err
				return 0, err
			}
			f.feed = line
			break
		}
		// Stored before the check, and Shutdown sets shutting
		// before it looks: either this session sees the shutdown, or
		// Shutdown sees it idle and closes it.
		f.idle.Store(!f.auth && !f.st.inMail)
		if f.idle.Load() && f.l != nil && f.l.srv.shutting.Load() {
			f.idle.Store(false)
			f.hangup()
			return 0, io.EOF
		}
		line, err := f.readLine()
		f.idle.Store(false)
		if err != nil {
			return 0, f.readFailed(err)
		}
		if f.auth {
			f.feed = []byte(line + "\r\n")
			break
		}
		f.command(line)
	}
	n := copy(p, f.feed)
	f.feed = f.feed[n:]
	return n, nil
}

func (f *front) isClosed() bool {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.closed
}

// readFailed turns a read error into the end of the session.
func (f *front) readFailed(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		f.send(rTimeout.line(f.st.srv.hostname(), f.st.relay()))
		f.st.log().Logf(logNotice, "timeout waiting for input from %s during server cmd read", f.st.relay())
	} else if errors.Is(err, io.EOF) {
		// End of input: sendmail disconnects (its 421 goes nowhere)
		// and logs the loss when a transaction was open.
		if f.st.inMail {
			after := f.lastCmd
			if after == "" {
				after = "startup"
			}
			f.st.log().Logf(logNotice, "%s: lost input channel from %s to %s after %s",
				f.st.qidForLog(), f.st.relay(), f.st.daemonName(), after)
		}
	}
	f.hangup()
	return io.EOF
}

// maxCommandLine is the longest command line read; longer ones are
// refused as sendmail refuses lines past its buffer.
const maxCommandLine = 4096

// readLine reads one command line without its line end.
func (f *front) readLine() (string, error) {
	if t := f.st.cfg.CF.Timeouts.Command; t > 0 {
		f.conn.SetReadDeadline(time.Now().Add(t))
	}
	var line []byte
	tooLong := false
	for {
		chunk, err := f.br.ReadSlice('\n')
		if len(line)+len(chunk) > maxCommandLine {
			tooLong = true
		} else {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	if tooLong {
		return "\x00toolong", nil
	}
	s := strings.TrimSuffix(string(line), "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// readData reads the next piece of the message and refuses bare CR and
// bare LF as sendmail 8.17.1.9 does against SMTP smuggling.
func (f *front) readData() ([]byte, error) {
	if t := f.st.cfg.CF.Timeouts.DataBlock; t > 0 {
		f.conn.SetReadDeadline(time.Now().Add(t))
	}
	chunk, err := f.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		f.drop()
		return nil, err
	}
	end := f.lineStart && bytes.Equal(chunk, []byte(".\r\n"))
	for i, c := range chunk {
		if f.prevCR && c != '\n' {
			f.st.partial = int64(max(i-1, 0))
			f.st.logCollect(rBareCR)
			f.send(rBareCR.line())
			f.drop()
			return nil, errBareCR
		}
		if c == '\n' && !f.prevCR {
			f.st.partial = int64(i)
			f.st.logCollect(rBareLF)
			f.send(rBareLF.line())
			f.drop()
			return nil, errBareLF
		}
		f.prevCR = c == '\r'
	}
	f.lineStart = err == nil
	if end {
		f.data = false
	}
	return append([]byte(nil), chunk...), nil
}

var (
	errBareLF = errors.New("bare LF in DATA")
	errBareCR = errors.New("bare CR in DATA")
)

// forward queues lines for go-smtp.
func (f *front) forward(lines ...fwd) {
	f.queue = append(f.queue, lines...)
}

// command handles one command line from the client.
func (f *front) command(line string) {
	st := f.st
	if line == "\x00toolong" {
		f.send(rTooLong.line())
		return
	}
	verb, arg, _ := strings.Cut(strings.TrimLeft(line, " \t"), " ")
	if v, a, ok := strings.Cut(verb, "\t"); ok {
		verb, arg = v, a+" "+arg
	}
	arg = strings.TrimLeft(arg, " \t")
	f.lastCmd = ""
	if knownCommands[strings.ToUpper(verb)] {
		f.lastCmd = strings.ToLower(verb)
	}
	switch strings.ToUpper(verb) {
	case "HELO", "EHLO":
		st.helloCount()
		name := strings.Fields(arg)
		if len(name) == 0 {
			f.send(rHeloNoArg.line(strings.ToUpper(verb)))
			return
		}
		st.hello(strings.ToUpper(verb) == "EHLO", name[0])
		f.forward(fwd{"EHLO " + sanitizeHelo(name[0]), expHelo})
	case "MAIL":
		f.mail(arg)
	case "RCPT":
		f.rcpt(arg)
	case "DATA":
		switch {
		case st.refused():
			f.send(st.connRefusal)
		case !st.inMail:
			f.send(rNeedMailData.line())
		case st.nrcpts == 0:
			f.send(rNeedRcpt.line())
		default:
			f.forward(fwd{"DATA", expData})
		}
	case "RSET":
		st.endTransaction()
		if st.greeted {
			f.forward(fwd{"RSET", expRset})
		} else {
			f.send(rRset.line())
		}
	case "NOOP":
		f.send(rNoop.line())
	case "QUIT":
		f.send(rQuit.line(st.srv.hostname()))
		f.hangup()
	case "VRFY", "EXPN":
		f.send(st.vrfy(strings.ToUpper(verb), arg)...)
	case "ETRN":
		f.send(st.etrn(line, arg))
	case "HELP":
		f.send(st.help(arg)...)
	case "VERB":
		if st.privacy("noverb") || st.privacy("noexpn") || st.privacy("goaway") {
			f.send(rVerbDenied.line())
		} else {
			f.send(rVerbOK.line())
		}
	case "AUTH":
		f.authCmd(arg)
	case "STARTTLS":
		f.startTLS(arg)
	default:
		f.send(rUnrecognized.line(line))
	}
}

// knownCommands are the verbs of sendmail's command table.
var knownCommands = map[string]bool{"HELO": true, "EHLO": true, "MAIL": true, "RCPT": true, "DATA": true,
	"RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true, "ETRN": true, "HELP": true,
	"VERB": true, "AUTH": true, "STARTTLS": true}

// sanitizeHelo keeps go-smtp's HELO parser content: it only needs a word.
func sanitizeHelo(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ensureSession makes sure go-smtp has a session: sendmail accepts MAIL
// without a HELO, go-smtp does not.
func (f *front) ensureSession() {
	if !f.st.greeted {
		f.st.greeted = true
		f.forward(fwd{"HELO " + f.st.clientLiteral(), expSilent})
	}
}

// skipWord is sendmail's skipword: the keyword before ":" must be w.
func skipWord(arg, w string) (string, bool, string) {
	word, rest, ok := strings.Cut(arg, ":")
	shown := strings.TrimRight(word, " \t")
	if !ok {
		shown = arg
		if i := strings.IndexAny(arg, " \t"); i >= 0 {
			shown = arg[:i]
		}
		return "", false, shown
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" || !strings.EqualFold(strings.TrimRight(word, " \t"), w) || strings.ContainsAny(strings.TrimRight(word, " \t"), " \t") {
		return "", false, shown
	}
	return rest, true, shown
}

func (f *front) mail(arg string) {
	st := f.st
	st.didMail = true
	if st.refused() {
		f.send(st.connRefusal)
		return
	}
	if st.inMail {
		f.send(rSenderSpecified.line())
		return
	}
	if st.l.opts.HasModifier('a') && st.authUser == "" {
		f.send(rAuthRequired.line())
		return
	}
	if !st.greeted && st.privacy("needmailhelo") {
		f.send(rNeedHelo.line())
		return
	}
	rest, ok, shown := skipWord(arg, "from")
	if !ok {
		f.send(rSyntaxScanning.line(shown))
		return
	}
	echo, inner, params, aerr := splitPathArg(rest)
	if aerr == nil {
		var a Address
		a, aerr = parseAddress(echo, inner)
		if aerr == nil {
			mp, errLine := st.mailParams(params)
			if errLine != "" {
				if errLine == rParamDupEnvid.line() || errLine == rParamBadEnvid.line() {
					// sendmail has set the sender when it meets the
					// second ENVID or checks one's xtext: RSET or QUIT
					// log the envelope.
					st.newQID()
					st.mailEcho = echo
				}
				f.send(errLine)
				return
			}
			st.pendingMail = &pendingMail{addr: a, params: mp}
			f.ensureSession()
			f.forward(fwd{"MAIL FROM:<>", expMail})
			return
		}
	}
	// sendmail logs no line for a MAIL address it cannot parse.
	st.newQID()
	f.send(aerr.r.line(aerr.arg...))
}

func (f *front) rcpt(arg string) {
	st := f.st
	if st.refused() {
		f.send(st.connRefusal)
		return
	}
	if !st.inMail {
		f.send(rNeedMailRcpt.line())
		return
	}
	rest, ok, shown := skipWord(arg, "to")
	if !ok {
		f.send(rSyntaxScanning.line(shown))
		return
	}
	if max := st.cfg.CF.MaxRecipientsPerMessage; max > 0 && st.nrcpts >= max {
		f.send(rTooManyRcpts.line())
		return
	}
	echo, inner, params, aerr := splitPathArg(rest)
	if aerr == nil {
		var a Address
		a, aerr = parseAddress(echo, inner)
		if aerr == nil {
			rp, errLine := st.rcptParams(params)
			if errLine != "" {
				st.log().Logf(logInfo, "%s: %s", st.newQID(), textReply(errLine).Message)
				f.send(errLine)
				return
			}
			st.pendingRcpt = &pendingRcpt{addr: a, params: rp}
			f.forward(fwd{"RCPT TO:<postmaster@localhost>", expRcpt})
			return
		}
	}
	line := aerr.r.line(aerr.arg...)
	if aerr.r != rTokenTooLong && aerr.r != rAddrTooLong {
		st.logAddrError(line)
	}
	f.send(line)
}

func (f *front) authCmd(arg string) {
	st := f.st
	mechs := st.authMechanisms()
	switch {
	case len(mechs) == 0:
		f.send(rAuthNotAvail.line())
	case st.authUser != "":
		f.send(rAuthAlready.line())
	case st.inMail:
		f.send(rAuthNotDuringTx.line())
	default:
		fields := strings.Fields(arg)
		if len(fields) == 0 {
			f.send(rAuthNeedMech.line())
			return
		}
		mech := strings.ToUpper(fields[0])
		found := false
		for _, m := range mechs {
			found = found || m == mech
		}
		if !found {
			f.send(rAuthNoMech.line(mech))
			return
		}
		st.authMechRaw = fields[0]
		f.ensureSession()
		f.forward(fwd{"AUTH " + strings.Join(fields, " "), expAuth})
	}
}

// startTLS upgrades the connection itself, so that the front keeps
// reading the commands in the clear after the handshake; go-smtp never
// sees the TLS layer and its session is reset as RFC 3207 asks.
func (f *front) startTLS(arg string) {
	st := f.st
	tc := st.cfg.TLS
	switch {
	case tc == nil:
		f.send(rTLSNotAvail.line())
		return
	case st.tls:
		f.send(rTLSActive.line())
		return
	case arg != "":
		f.send(rTLSNoParam.line())
		return
	}
	f.send(rTLSReady.line())
	if f.br.Buffered() > 0 {
		// Commands pipelined after STARTTLS would be read in the clear:
		// the injection attack of CVE-2011-0411.
		f.br.Discard(f.br.Buffered())
	}
	tlsConn := tls.Server(f.raw, tc)
	if t := st.cfg.CF.Timeouts.StartTLS; t > 0 {
		tlsConn.SetDeadline(time.Now().Add(t))
	}
	if err := tlsConn.Handshake(); err != nil {
		st.log().Logf(logInfo, "STARTTLS=server, error: accept failed=%v, relay=%s", err, st.relay())
		f.hangup()
		return
	}
	tlsConn.SetDeadline(time.Time{})
	f.conn = tlsConn
	f.br = bufio.NewReaderSize(tlsConn, 4096)
	st.tlsStarted()
	if st.greeted {
		f.forward(fwd{"RSET", expSilent})
	}
}
