// SPDX-License-Identifier: MIT

package remote

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailsuite/internal/deliver"
)

// The courier speaks the mail transaction itself, as sendmail's SMTP
// client writes it: "MAIL From:<a@b> SIZE=n BODY=8BITMIME ENVID=x
// RET=HDRS" (each parameter only when the server offers its extension
// and the message has it, in sendmail's order), "RCPT To:<c@d>
// NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d", and DATA. With PIPELINING
// the RCPTs and DATA go out in one write after MAIL's reply, as sendmail
// 8.17 sends them, and the transcript of a failure is sendmail's too
// (">>> DATA", then the replies as they came). go-smtp's client keeps
// EHLO, AUTH and QUIT: it spells "MAIL FROM:", adds BODY=8BITMIME to
// every message and does not pipeline.

// sessionState is what a transaction leaves the connection fit for.
type sessionState int

const (
	stateBroken sessionState = iota // close it
	stateQuit                       // QUIT, then close it
	stateReuse                      // in step: it may carry another message
)

// reader is the session's reply reader, made on first use: go-smtp has
// read everything before it (greeting, EHLO, AUTH), and nothing is
// pending between transactions.
func (s *session) reader() *textproto.Reader {
	if s.tp == nil {
		s.tp = textproto.NewReader(bufio.NewReader(s.conn))
	}
	return s.tp
}

// send writes lines (each without its CRLF) in one write.
func (s *session) send(timeout time.Duration, lines ...string) error {
	s.conn.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, err := io.WriteString(s.conn, b.String())
	return err
}

// reply reads one reply. A reply of 400 or more comes back as an
// *smtp.SMTPError (with its enhanced code split off, as go-smtp does),
// a broken connection as its error.
func (s *session) reply(timeout time.Duration) (int, string, error) {
	s.conn.SetDeadline(time.Now().Add(timeout))
	code, msg, err := s.reader().ReadResponse(0)
	if err != nil {
		return 0, "", err
	}
	if code >= 400 {
		return code, msg, replyError(code, msg)
	}
	return code, msg, nil
}

// replyError makes a reply an *smtp.SMTPError: "5.1.1 text" gives the
// enhanced code 5.1.1 and the text, with the code taken off every line.
func replyError(code int, msg string) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: msg}
	first, rest, ok := strings.Cut(msg, " ")
	if !ok || !enhanced.MatchString(first) {
		return se
	}
	var ec smtp.EnhancedCode
	for i, f := range strings.Split(first, ".") {
		ec[i], _ = strconv.Atoi(f)
	}
	se.EnhancedCode = ec
	se.Message = strings.ReplaceAll(rest, "\n"+first+" ", "\n")
	return se
}

// mailCommand is the MAIL command for msg on this session.
func (c *Courier) mailCommand(s *session, msg *Message, eightBit bool) string {
	var b strings.Builder
	b.WriteString("MAIL From:<" + msg.From + ">")
	if ext(s.cl, "SIZE") && msg.Size > 0 {
		fmt.Fprintf(&b, " SIZE=%d", msg.Size)
	}
	switch {
	case !ext(s.cl, "8BITMIME"):
	case msg.BodyType != "":
		// The body type the client declared, as sendmail passes it on.
		b.WriteString(" BODY=" + msg.BodyType)
	case eightBit:
		b.WriteString(" BODY=8BITMIME")
	}
	if ext(s.cl, "DSN") {
		if msg.EnvID != "" {
			b.WriteString(" ENVID=" + msg.EnvID)
		}
		switch msg.Ret {
		case smtp.DSNReturnFull, smtp.DSNReturnHeaders:
			b.WriteString(" RET=" + string(msg.Ret))
		}
	}
	return b.String()
}

// rcptCommand is the RCPT command for rc.
func rcptCommand(s *session, rc Rcpt) string {
	l := "RCPT To:<" + rc.Addr + ">"
	if ext(s.cl, "DSN") {
		if len(rc.Notify) > 0 {
			n := make([]string, len(rc.Notify))
			for i, v := range rc.Notify {
				n[i] = string(v)
			}
			l += " NOTIFY=" + strings.Join(n, ",")
		}
		if rc.ORCPT != "" {
			l += " ORCPT=" + rc.ORCPT
		}
	}
	return l
}

// transaction sends one message over an open session and says what the
// session is fit for afterwards.
func (c *Courier) transaction(s *session, msg *Message, h mxHost, base Result) ([]Result, sessionState) {
	tr := "... while talking to " + strings.TrimSuffix(h.Name, ".") + ":\n"
	base.OfferedDSN = ext(s.cl, "DSN")
	body, err := msg.Open()
	if err != nil {
		st := deliver.StatusFor(deliver.ExTempFail, err.Error())
		return all(msg, Result{Status: st}), stateReuse
	}
	defer body.Close()
	var src io.Reader = body
	eightBit := msg.EightBit && ext(s.cl, "8BITMIME")
	if msg.EightBit && !eightBit {
		src, err = To7Bit(body)
		if err != nil {
			st := deliver.StatusFor(deliver.ExDataErr, "")
			st.Detail = err.Error()
			return all(msg, Result{Status: st}), stateReuse
		}
	}
	defer s.conn.SetDeadline(time.Time{})

	mail := c.mailCommand(s, msg, eightBit)
	if err := s.send(c.timeout(c.Timeouts.Mail, 10*time.Minute), mail); err != nil {
		return all(msg, connStatus(base, h, err)), stateBroken
	}
	if _, _, err := s.reply(c.timeout(c.Timeouts.Mail, 10*time.Minute)); err != nil {
		r := replyStatus(base, "MAIL", err, false)
		out := all(msg, r)
		for i := range out {
			out[i].Transcript = tr + ">>> " + mail + "\n<<< " + r.Reply + "\n" + out[i].Transcript
		}
		return out, stateAfter(err, stateReuse)
	}

	res := make([]Result, len(msg.Rcpts))
	var ok, failed []int
	pipelined := ext(s.cl, "PIPELINING")
	rcptTimeout := c.timeout(c.Timeouts.Rcpt, time.Hour)
	var lines []string
	for _, rc := range msg.Rcpts {
		lines = append(lines, rcptCommand(s, rc))
	}
	if pipelined {
		if err := s.send(rcptTimeout, append(lines, "DATA")...); err != nil {
			return all(msg, connStatus(base, h, err)), stateBroken
		}
	}
	for i, rc := range msg.Rcpts {
		if !pipelined {
			if err := s.send(rcptTimeout, lines[i]); err != nil {
				return all(msg, connStatus(base, h, err)), stateBroken
			}
		}
		code, text, err := s.reply(rcptTimeout)
		if err == nil {
			// A "relayed" return receipt quotes this reply.
			if k := strings.LastIndexByte(text, '\n'); k >= 0 {
				text = text[k+1:]
			}
			res[i].RcptReply = strconv.Itoa(code) + " " + text
			ok = append(ok, i)
			continue
		}
		r := replyStatus(base, "RCPT", err, true)
		r.Rcpt = rc.Addr
		if !isReply(err) {
			for j := i; j < len(msg.Rcpts); j++ {
				res[j] = r
				res[j].Rcpt = msg.Rcpts[j].Addr
			}
			return res, stateAfter(err, stateBroken)
		}
		// Sendmail's transcript names the host once; a pipelined
		// command group shows as its last command, DATA.
		t := ""
		if len(failed) == 0 {
			t = tr
			if pipelined {
				t += ">>> DATA\n"
			}
		}
		if !pipelined {
			t += ">>> " + lines[i] + "\n"
		}
		r.Transcript = t + "<<< " + r.Reply + "\n" + r.Status.Transcript(rc.Addr) + "\n"
		res[i] = r
		failed = append(failed, i)
	}
	setAll := func(r Result) {
		for _, i := range ok {
			rr := res[i].RcptReply
			res[i] = r
			res[i].Rcpt, res[i].RcptReply = msg.Rcpts[i].Addr, rr
		}
	}
	dataTimeout := c.timeout(c.Timeouts.DataInit, 5*time.Minute)
	if len(ok) == 0 {
		if !pipelined {
			return res, stateReuse
		}
		// DATA went out with the RCPTs: its reply (a 5xx for no
		// recipients) ends the transcript.
		code, text, err := s.reply(dataTimeout)
		switch {
		case err != nil && !isReply(err):
			return res, stateAfter(err, stateBroken)
		case code == 354:
			// A server that takes DATA without recipients gets an
			// empty message, as RFC 2920 asks.
			if s.send(dataTimeout, ".") != nil {
				return res, stateBroken
			}
			if _, _, err := s.reply(c.timeout(c.Timeouts.DataFinal, time.Hour)); err != nil && !isReply(err) {
				return res, stateBroken
			}
			return res, stateReuse
		}
		if len(failed) > 0 {
			last := failed[len(failed)-1]
			res[last].Transcript += "<<< " + strconv.Itoa(code) + " " + text + "\n"
		}
		return res, stateAfter(err, stateReuse)
	}
	if !pipelined {
		if err := s.send(dataTimeout, "DATA"); err != nil {
			setAll(connStatus(base, h, err))
			return res, stateBroken
		}
	}
	if code, _, err := s.reply(dataTimeout); err != nil || code != 354 {
		if err == nil {
			err = replyError(code, "unexpected reply to DATA")
		}
		r := replyStatus(base, "DATA", err, false)
		if !isReply(err) {
			setAll(r)
			return res, stateBroken
		}
		r.Transcript = tr + ">>> DATA\n<<< " + r.Reply + "\n"
		setAll(r)
		// Sendmail QUITs after a 4xx to DATA and resets after a 5xx.
		if code/100 == 4 {
			return res, stateQuit
		}
		return res, stateAfter(err, stateReuse)
	}
	// Timeout.datablock bounds the body.
	s.conn.SetDeadline(time.Now().Add(c.timeout(c.Timeouts.DataBlock, time.Hour)))
	bw := bufio.NewWriterSize(s.conn, 16<<10)
	dw := textproto.NewWriter(bw).DotWriter()
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(dw, src, *buf)
	copyBufs.Put(buf)
	if err != nil {
		setAll(connStatus(base, h, err))
		return res, stateBroken
	}
	if err := dw.Close(); err != nil {
		setAll(connStatus(base, h, err))
		return res, stateBroken
	}
	_, text, err := s.reply(c.timeout(c.Timeouts.DataFinal, time.Hour))
	if err != nil {
		r := replyStatus(base, "DATA", err, false)
		if !isReply(err) {
			setAll(r)
			return res, stateBroken
		}
		r.Transcript = tr + ">>> .\n<<< " + r.Reply + "\n"
		setAll(r)
		return res, stateAfter(err, stateReuse)
	}
	st := deliver.StatusFor(deliver.ExOK, "")
	// Sendmail's stat= leaves the enhanced code out of the reply text
	// ("Sent (Ok: queued as X)") and puts it in dsn=.
	stat := text
	if code, rest, found := strings.Cut(text, " "); found && enhanced.MatchString(code) && ext(s.cl, "ENHANCEDSTATUSCODES") {
		stat = rest
		st.DSN = code
	}
	st.Stat = "Sent (" + stat + ")"
	r := base
	r.Status = st
	r.Reply = "250 " + text
	setAll(r)
	return res, stateReuse
}

// stateAfter is what an error leaves the session fit for: a 421 means
// the server is closing (QUIT, as sendmail sends it anyway), another
// reply leaves it in step (ifReply), a broken connection is closed.
func stateAfter(err error, ifReply sessionState) sessionState {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return ifReply
	case errors.As(err, &se) && se.Code == 421:
		return stateQuit
	case errors.As(err, &se):
		return ifReply
	}
	return stateBroken
}

// isReply says err is the far side's reply, not a broken connection.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// copyBufs are the buffers message bodies are sent through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
