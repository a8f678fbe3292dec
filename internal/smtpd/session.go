// SPDX-License-Identifier: MIT

package smtpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailsuite/internal/dsn"
	"mailsuite/internal/maillog"
	"mailsuite/pkg/accessdb"
)

const (
	logInfo   = maillog.MailInfo
	logNotice = maillog.MailNotice
)

// pendingMail and pendingRcpt carry what the front parsed to the session
// method go-smtp calls next.
type pendingMail struct {
	addr   Address
	params mailParams
}

type pendingRcpt struct {
	addr   Address
	params rcptParams
}

type mailParams struct {
	size     int64
	body     string
	envid    string
	envidSet bool
	ret      string
	auth     string
}

type rcptParams struct {
	notify, orcpt string
}

// connState is one SMTP connection: what sendmail keeps in its macros
// and transaction variables.
type connState struct {
	f   *front
	l   *listener
	srv *Server
	cfg Config // as it was when the connection opened
	pol *Policy
	ctx context.Context

	client      Client
	local       *StdioOptions // a "sendmail -bs" session
	connRefusal string
	connDiscard bool
	started     time.Time

	greeted, esmtp bool
	heloName       string
	heloCount      int
	vrfyCount      int
	etrnCount      int
	tls            bool
	authUser       string
	authMechRaw    string // the mechanism as the client spelled it

	qid          string
	inMail       bool
	mailEcho     string
	mailAddr     Address
	mailVerdict  mailVerdict
	pendingMail  *pendingMail
	pendingRcpt  *pendingRcpt
	env          *Envelope
	nrcpts       int
	rcptSeen     map[string]string
	lastEcho     string
	committed    bool
	didMail      bool
	greetRefused bool
	partial      int64 // bytes of a refused DATA line before its bare CR/LF
	finishOnce   sync.Once
}

func newConnState(f *front, l *listener) *connState {
	cfg := l.srv.config()
	st := &connState{f: f, l: l, srv: l.srv, cfg: cfg, pol: cfg.Policy, ctx: context.Background(), started: l.srv.now()}
	if sc, ok := f.raw.(*stdioConn); ok {
		st.local = &sc.opts
	}
	return st
}

func (st *connState) log() *maillog.Logger { return st.cfg.Log }

func (st *connState) privacy(word string) bool {
	for _, w := range st.cfg.CF.PrivacyOptions {
		if w == word {
			return true
		}
		if w == "goaway" && (word == "novrfy" || word == "noexpn" || word == "noverb" || word == "noetrn" || word == "needmailhelo") {
			return true
		}
	}
	return false
}

// relay is the relay= text of log lines.
func (st *connState) relay() string {
	if st.local != nil {
		return st.local.User + "@localhost"
	}
	if st.client.AddrMacro == "" {
		return "localhost"
	}
	return maillog.Relay(st.client.validName(), st.addrText(), st.client.Resolve == ResolveForged)
}

// addrText is the client address as sendmail's anynet_ntoa prints it in
// log lines and in "[…]": dotted IPv4, "IPv6:" and the compressed form
// for IPv6.
func (st *connState) addrText() string {
	a := st.client.Addr
	if !a.IsValid() {
		return st.client.AddrMacro
	}
	if a.Is4() {
		return a.String()
	}
	return "IPv6:" + a.String()
}

func (st *connState) clientLiteral() string {
	if st.client.Addr.IsValid() {
		return "[" + st.addrText() + "]"
	}
	return "localhost"
}

// connect runs when the connection opens: the client's name, then
// check_relay (at once, or at RCPT with FEATURE(delay_checks)).
func (st *connState) connect() string {
	ap, err := netip.ParseAddrPort(st.f.RemoteAddr().String())
	if err == nil {
		ctx, cancel := context.WithTimeout(st.ctx, 30*time.Second)
		st.client = st.pol.ResolveClient(ctx, ap.Addr(), st.cfg.CF.UseCompressedIPv6Addresses)
		cancel()
	}
	refusal, discard := st.pol.CheckConnect(&st.client)
	st.connDiscard = discard
	if discard && !st.pol.Features.DelayChecks {
		st.log().Logf(logNotice, "ruleset=check_relay, arg1=%s, arg2=%s, relay=%s, discard",
			st.client.Name, st.addrText(), st.relay())
	}
	if refusal == "" {
		return ""
	}
	if !st.pol.Features.DelayChecks {
		st.log().RejectRelay("", st.client.Name, st.addrText(), st.relay(), refusal)
	}
	st.connRefusal = refusal
	return refusal
}

// refused reports a connection check_relay refused (and did not delay):
// every MAIL, RCPT and DATA then gets its reply.
func (st *connState) refused() bool {
	return st.connRefusal != "" && !st.pol.Features.DelayChecks
}

// banner expands SmtpGreetingMessage and inserts " ESMTP" after its
// first word, as sendmail does.
func (st *connState) banner() string {
	msg := st.cfg.CF.SmtpGreetingMessage
	if msg == "" {
		msg = "$j Sendmail $v ready at $b"
	}
	msg = st.srv.expand(msg, st)
	word, rest, ok := strings.Cut(msg, " ")
	if !ok {
		return msg + " ESMTP"
	}
	return word + " ESMTP " + rest
}

// helloCount counts HELO and EHLO, with or without argument, as
// sendmail's checksmtpattack does (MAXHELOCOMMANDS is 3).
func (st *connState) helloCount() {
	st.heloCount++
	if st.heloCount == 3 {
		st.log().SMTPAttack(st.qidForLog(), st.relay(), "HELO/EHLO", st.heloCount)
	}
}

func (st *connState) hello(esmtp bool, name string) {
	st.heloName, st.esmtp, st.greeted = name, esmtp, true
	st.endTransaction()
}

// helloLines is the reply to HELO/EHLO.
func (st *connState) helloLines() []string {
	host := st.srv.hostname()
	first := host + " Hello " + st.relayHello() + ", pleased to meet you"
	if !st.esmtp {
		return []string{"250 " + first}
	}
	if st.connRefusal != "" && !st.pol.Features.DelayChecks {
		// A client check_relay refused hears of no extension but
		// ENHANCEDSTATUSCODES, as sendmail answers it.
		return []string{"250-" + first, "250 ENHANCEDSTATUSCODES"}
	}
	ext := []string{first, "ENHANCEDSTATUSCODES", "PIPELINING"}
	if !st.privacy("noexpn") {
		ext = append(ext, "EXPN")
		if !st.privacy("noverb") {
			ext = append(ext, "VERB")
		}
	}
	ext = append(ext, "8BITMIME")
	if max := st.cfg.CF.MaxMessageSize; max > 0 {
		ext = append(ext, "SIZE "+itoa(max))
	} else {
		ext = append(ext, "SIZE")
	}
	ext = append(ext, "DSN")
	if !st.privacy("noetrn") && !st.l.opts.HasModifier('E') {
		ext = append(ext, "ETRN")
	}
	if mechs := st.authMechanisms(); len(mechs) > 0 {
		ext = append(ext, "AUTH "+strings.Join(mechs, " "))
	}
	if st.cfg.TLS != nil && !st.tls {
		ext = append(ext, "STARTTLS")
	}
	ext = append(ext, "DELIVERBY", "HELP")
	lines := make([]string, len(ext))
	for i, e := range ext {
		sep := "-"
		if i == len(ext)-1 {
			sep = " "
		}
		lines[i] = "250" + sep + e
	}
	return lines
}

func (st *connState) relayHello() string {
	if st.local != nil {
		return st.relay()
	}
	if st.client.AddrMacro == "" {
		return "root@localhost"
	}
	return st.relay()
}

// authMechanisms are the mechanisms offered: those of AuthMechanisms this
// server implements, none without TLS when AuthOptions has "p".
func (st *connState) authMechanisms() []string {
	if st.cfg.Auth == nil {
		return nil
	}
	for _, o := range st.cfg.CF.AuthOptions {
		if strings.Contains(o, "p") && !st.tls {
			return nil
		}
	}
	var out []string
	for _, m := range st.cfg.CF.AuthMechanisms {
		switch m = strings.ToUpper(m); m {
		case "PLAIN", "LOGIN":
			out = append(out, m)
		}
	}
	return out
}

func (st *connState) tlsStarted() {
	st.tls = true
	st.greeted, st.heloName, st.esmtp = false, "", false
	st.endTransaction()
}

func (st *connState) newQID() string {
	if st.qid == "" {
		st.qid = st.cfg.Spool.NextID()
		st.committed = false
	}
	return st.qid
}

func (st *connState) qidForLog() string { return st.newQID() }

// logAddrError logs a refused address as sendmail's usrerr does:
// "<addr>... text", from a reply line "553 5.1.3 <addr>... text".
func (st *connState) logAddrError(line string) {
	msg := textReply(line).Message
	addr, text, ok := strings.Cut(msg, "... ")
	if !ok {
		st.log().Logf(logInfo, "%s: %s", st.newQID(), msg)
		return
	}
	// sendmail's log escapes backslashes in addresses.
	st.log().AddrError(st.newQID(), strings.ReplaceAll(addr, `\`, `\\`), text)
}

// logCollect logs a message refused while it was read (collect()).
func (st *connState) logCollect(r reply) {
	st.log().Logf(logNotice, "%s: collect: relay=%s, from=%s, info=%s, where=body, status=tempfail",
		st.newQID(), st.relay(), st.mailEcho, r.text)
}

func (st *connState) logReject(ruleset, arg1, line string) {
	st.log().Reject(st.newQID(), ruleset, arg1, st.relay(), line)
}

// mailParams reads the ESMTP parameters of MAIL.
func (st *connState) mailParams(s string) (mailParams, string) {
	var mp mailParams
	for _, p := range strings.Fields(s) {
		key, val, hasVal := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "SIZE":
			if !hasVal || val == "" {
				return mp, rParamSizeValue.line()
			}
			n, ok := parseSize(val)
			if !ok {
				return mp, rParamBadSize.line()
			}
			if max := st.cfg.CF.MaxMessageSize; max > 0 && n > max {
				return mp, rSizeExceeded.line(max)
			}
			if sr, ok := st.cfg.Spool.(SpaceReporter); ok {
				if free, err := sr.Available(); err == nil && n > free {
					return mp, rNoDiskSpace.line()
				}
			} else if n > st.srv.freeSpace() {
				return mp, rNoDiskSpace.line()
			}
			mp.size = n
		case "BODY":
			switch strings.ToUpper(val) {
			case "7BIT", "8BITMIME":
				mp.body = strings.ToUpper(val)
			default:
				return mp, rParamBadBody.line(val)
			}
		case "ENVID":
			if !dsn.ValidXtext(val) {
				// sendmail 8.17 checks it is xtext (RFC 3461 §4),
				// before it looks for a duplicate.
				return mp, rParamBadEnvid.line()
			}
			if mp.envidSet {
				return mp, rParamDupEnvid.line()
			}
			mp.envid, mp.envidSet = val, true
		case "RET":
			if mp.ret != "" {
				return mp, rParamDupRet.line()
			}
			switch strings.ToUpper(val) {
			case "FULL", "HDRS":
				mp.ret = strings.ToUpper(val)
			default:
				return mp, rParamBadRet.line(val)
			}
		case "AUTH":
			mp.auth = val
		case "BY":
			// DELIVERBY: accepted, not acted on.
		default:
			return mp, rParamUnknown.line(key)
		}
	}
	return mp, ""
}

func (st *connState) rcptParams(s string) (rcptParams, string) {
	var rp rcptParams
	for _, p := range strings.Fields(s) {
		key, val, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "NOTIFY":
			for _, w := range strings.Split(strings.ToUpper(val), ",") {
				switch w {
				case "NEVER", "SUCCESS", "FAILURE", "DELAY":
				default:
					return rp, rParamBadNotify.line(val)
				}
			}
			rp.notify = strings.ToUpper(val)
		case "ORCPT":
			if _, a, ok := strings.Cut(val, ";"); !ok || !dsn.ValidXtext(a) {
				return rp, rParamBadOrcpt.line()
			}
			rp.orcpt = val
		default:
			return rp, rParamUnknown.line(key)
		}
	}
	return rp, ""
}

// parseSize reads SIZE= as sendmail's strtol does: leading digits, the
// rest ignored.
func parseSize(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, true
	}
	n, ok := parseDigits(s[:end])
	if neg && n > 0 {
		return 0, false
	}
	return n, ok
}

func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		if len(s) > 18 && strings.Trim(s, "0123456789") == "" {
			return 1<<62 - 1, true
		}
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func (st *connState) mailAccepted() {
	st.inMail, st.didMail = true, true
}

// rcptAccepted returns the text echoed for the recipient just accepted.
func (st *connState) rcptAccepted() string {
	return st.lastEcho
}

// endTransaction ends MAIL state (RSET, HELO, end of DATA), logging an
// abandoned envelope as sendmail does.
func (st *connState) endTransaction() {
	if st.qid != "" && !st.committed && st.mailEcho != "" {
		f := maillog.From{Sender: st.mailEcho, NRcpts: st.nrcpts, Proto: st.proto(), Daemon: st.l.opts.Name, Relay: st.relay()}
		if st.env != nil {
			f.Size, f.BodyType = st.env.Size, st.env.BodyType
		}
		st.log().From(st.qid, f)
	}
	if st.mailEcho != "" || st.committed {
		st.qid = ""
	}
	st.inMail, st.mailEcho, st.env, st.nrcpts, st.rcptSeen = false, "", nil, 0, nil
	st.committed = false
}

// finish runs once when the connection ends (from the session's
// goroutine, or from Shutdown's when it gives up waiting).
func (st *connState) finish() {
	st.finishOnce.Do(st.doFinish)
}

func (st *connState) doFinish() {
	st.endTransaction()
	switch {
	case st.didMail || st.greetRefused || st.connDiscard:
	case st.local != nil || st.client.AddrMacro != "":
		st.log().NoTransaction(st.newQID(), st.relay(), st.daemonName())
	}
	st.l.release()
}

// daemonName is {daemon_name} as sendmail's messages print it: the
// listener's Name, "stdin" for sendmail -bs.
func (st *connState) daemonName() string {
	if st.local != nil {
		return "stdin"
	}
	return st.l.opts.Name
}

func (st *connState) proto() string {
	p := "SMTP"
	if st.esmtp {
		p = "ESMTP"
	}
	if st.tls {
		p += "S"
	}
	if st.authUser != "" {
		p += "A"
	}
	return p
}

// vrfy answers VRFY and EXPN.
func (st *connState) vrfy(cmd, arg string) []string {
	st.didMail = true
	// checksmtpattack: MAXVRFYCOMMANDS is 6, VRFY and EXPN together.
	st.vrfyCount++
	if st.vrfyCount == 6 {
		st.log().SMTPAttack(st.qidForLog(), st.relay(), cmd, st.vrfyCount)
	}
	rejected := func() {
		if arg == "" {
			st.log().Logf(logNotice, "%s: %s: %s [rejected]", st.qidForLog(), st.relay(), cmd)
			return
		}
		st.log().VrfyRejected(st.qidForLog(), st.relay(), cmd, arg)
	}
	if cmd == "VRFY" && st.privacy("novrfy") {
		rejected()
		return []string{rVrfyDenied.line()}
	}
	if cmd == "EXPN" && st.privacy("noexpn") {
		rejected()
		return []string{rExpnDenied.line()}
	}
	if arg == "" {
		st.log().Logf(logInfo, "%s: %s: %s", st.qidForLog(), st.relay(), cmd)
	} else {
		st.log().Logf(logInfo, "%s: %s: %s %s", st.qidForLog(), st.relay(), cmd, arg)
	}
	if strings.TrimSpace(arg) == "" {
		return []string{rVrfyNeedArg.line()}
	}
	echo, inner, _, aerr := splitPathArg(arg)
	var a Address
	if aerr == nil {
		a, aerr = parseAddress(echo, inner)
	}
	if aerr != nil {
		return []string{aerr.r.line(aerr.arg...)}
	}
	local, domain := finalHop(a.Local, a.Domain, st.pol.ours)
	if domain != "" && !st.pol.IsLocal(domain) {
		return []string{rVrfyRemote.line(dequote(local), domain)}
	}
	v := st.pol.finishRcpt(st.ctx, a, dequote(local), domain)
	if v.refusal != nil {
		return []string{v.refusal.r.line(v.refusal.arg...)}
	}
	if v.line != "" {
		return []string{v.line}
	}
	return []string{rVrfyOK.line(v.User, st.srv.hostname())}
}

// maxETRN is sendmail's MAXETRNCOMMANDS: the ETRN count at which
// checksmtpattack logs a possible attack.
const maxETRN = 8

// defaultQueueGroup is the name of sendmail's default queue group, the
// only one sendmaild has ("ETRN #mqueue").
const defaultQueueGroup = "mqueue"

// etrn answers ETRN as sendmail's srvrsmtp.c does: refused when the
// daemon does not offer it (PrivacyOptions noetrn or goaway, modifier E)
// or for an unprivileged "sendmail -bs" user; otherwise it hands the
// queue-run selection to the ETRN hook.
func (st *connState) etrn(line, arg string) string {
	st.didMail = true
	if st.privacy("noetrn") || st.l.opts.HasModifier('E') || st.srv.stdioUnprivileged(st) {
		st.log().Logf(logInfo, "%s: %s: %s [rejected]", st.qidForLog(), st.relay(), line)
		return rEtrnDisabled.line()
	}
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return rEtrnNeedArg.line()
	}
	st.etrnCount++
	if st.etrnCount == maxETRN {
		st.log().SMTPAttack(st.qidForLog(), st.relay(), "ETRN", st.etrnCount)
	}
	st.log().Logf(logInfo, "%s: %s: ETRN %s", st.qidForLog(), st.relay(), arg)
	match, ok := "@"+arg, rEtrnStarted.line(arg)
	switch {
	case strings.HasPrefix(arg, "#"):
		group := arg[1:]
		if group != defaultQueueGroup {
			return rEtrnNoQueue.line(group)
		}
		match, ok = "", rEtrnGroup.line(group)
	case strings.HasPrefix(arg, "@"):
		match = arg[1:]
	}
	if st.cfg.ETRN != nil {
		if err := st.cfg.ETRN(st.ctx, match); err != nil {
			st.log().Logf(logErr, "%s: SYSERR: ETRN %s: %v", st.qidForLog(), arg, err)
			return rEtrnFailed.line()
		}
	}
	return ok
}

// help answers HELP from the HelpFile.
func (st *connState) help(arg string) []string {
	path := st.cfg.CF.HelpFile
	if path == "" {
		path = "/etc/mail/helpfile"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{rHelpMissing.line(st.srv.version())}
	}
	topic := strings.ToLower(strings.TrimSpace(arg))
	if topic == "" {
		topic = "smtp"
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		key, text, ok := strings.Cut(l, "\t")
		if !ok || key != topic {
			continue
		}
		text = strings.ReplaceAll(text, "$v", st.srv.version())
		text = strings.ReplaceAll(text, "$$", "$")
		out = append(out, rHelpLine.line(text))
	}
	if len(out) == 0 {
		return []string{rHelpNoTopic.line(arg)}
	}
	for i := range out {
		out[i] = "214-" + out[i][4:]
	}
	return append(out, rHelpEnd.line())
}

// session is the go-smtp Session of a connection.
type session struct {
	st *connState
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) Reset() {}

func (s *session) Logout() error { return nil }

// Mail runs check_mail on the sender the front parsed.
func (s *session) Mail(_ string, _ *smtp.MailOptions) error {
	st := s.st
	pm := st.pendingMail
	st.pendingMail = nil
	if pm == nil {
		return rSenderSpecified.err()
	}
	st.newQID()
	st.mailEcho, st.mailAddr = pm.addr.Echo, pm.addr
	v := st.pol.CheckMail(st.ctx, &st.client, pm.addr)
	st.mailVerdict = v
	if st.heloName == "" && st.privacy("authwarnings") {
		st.log().Logf(logInfo, "%s: Authentication-Warning: %s: %s didn't use HELO protocol",
			st.qid, st.srv.hostname(), st.relay())
	}
	if !st.pol.Features.DelayChecks {
		if line := v.reply(); line != "" {
			st.logReject("check_mail", pm.addr.Echo, line)
			return textReply(line)
		}
		if v.discard {
			st.log().Logf(logNotice, "%s: ruleset=check_mail, arg1=%s, relay=%s, discard", st.qid, pm.addr.Echo, st.relay())
		}
	}
	from := ""
	if !pm.addr.Null {
		from = dequote(pm.addr.Local)
		if pm.addr.Domain != "" {
			from += "@" + pm.addr.Domain
		}
	}
	st.env = &Envelope{ID: st.qid, From: from, ClientAddr: st.addrText(), ClientName: st.client.validName(),
		Helo: st.heloName, Proto: st.proto(), Daemon: st.l.opts.Name, AuthUser: st.authUser,
		BodyType: pm.params.body, Size: pm.params.size, Ret: pm.params.ret, EnvID: pm.params.envid, Received: st.srv.now(),
		Discard: !st.pol.Features.DelayChecks && (st.connDiscard || v.discard)}
	if st.local != nil {
		st.env.LocalUser = st.local.User
	}
	st.env.MsgID = "<" + st.env.Received.Format("200601021504") + "." + st.qid + "@" + st.srv.hostname() + ">"
	st.rcptSeen = map[string]string{}
	return nil
}

func (v mailVerdict) reply() string {
	if v.refusal != nil {
		return v.refusal.r.line(v.refusal.arg...)
	}
	return v.line
}

// withPrefix re-addresses a delayed refusal to the recipient, as
// delay_checks does: the "<addr>... " prefix names the recipient.
func withPrefix(line, oldEcho, echo string) string {
	e := textReply(line)
	msg := e.Message
	if oldEcho != "" {
		msg = strings.TrimPrefix(msg, oldEcho+"... ")
	}
	switch e.Code {
	case 250, 252, 450, 550, 553:
		msg = echo + "... " + msg
	}
	return errLine(&smtp.SMTPError{Code: e.Code, EnhancedCode: e.EnhancedCode, Message: msg})
}

// Rcpt runs check_rcpt on the recipient the front parsed.
func (s *session) Rcpt(_ string, _ *smtp.RcptOptions) error {
	st := s.st
	pr := st.pendingRcpt
	st.pendingRcpt = nil
	if pr == nil || st.env == nil {
		return rNeedMailRcpt.err()
	}
	a := pr.addr
	var delayed func(rcptVerdict) string
	if st.pol.Features.DelayChecks {
		delayed = func(v rcptVerdict) string {
			if st.pol.SpamFriend(rcptKeyAddr(v), v.Local) {
				return ""
			}
			m := st.pol.CheckMail(st.ctx, &st.client, st.pol.Canonical(st.mailAddr))
			if line := m.reply(); line != "" {
				return withPrefix(line, st.mailAddr.Echo, a.Echo)
			}
			if (m.discard || st.connDiscard) && !st.env.Discard {
				st.env.Discard = true
				st.log().Logf(logNotice, "%s: ruleset=check_rcpt, arg1=%s, relay=%s, discard", st.qid, a.Echo, st.relay())
			}
			if st.connRefusal != "" {
				return withPrefix(st.connRefusal, "", a.Echo)
			}
			return ""
		}
	}
	v := st.pol.CheckRcpt(st.ctx, &st.client, a, delayed)
	line := ""
	switch {
	case v.refusal != nil:
		line = v.refusal.r.line(v.refusal.arg...)
	case v.line != "":
		line = v.line
	}
	if line != "" {
		if v.refusal != nil && v.refusal.r == rUserUnknown {
			st.log().AddrError(st.qid, strings.ReplaceAll(a.Echo, `\`, `\\`), "User unknown")
		} else {
			st.logReject("check_rcpt", a.Echo, line)
		}
		return textReply(line)
	}
	key := "remote:" + v.User + "@" + strings.ToLower(v.Domain)
	if v.Local {
		key = "local:" + v.User
	}
	if first, dup := st.rcptSeen[key]; dup {
		st.lastEcho = first
		return nil
	}
	st.rcptSeen[key] = a.Echo
	st.lastEcho = a.Echo
	st.nrcpts++
	if v.discard {
		st.env.Discard = true
	}
	st.env.Rcpts = append(st.env.Rcpts, Rcpt{Addr: addrText(a), Local: v.Local, User: v.User, Domain: v.Domain,
		Notify: pr.params.notify, ORcpt: pr.params.orcpt})
	return nil
}

func rcptKeyAddr(v rcptVerdict) string {
	if v.Domain == "" {
		return v.User
	}
	return v.User + "@" + v.Domain
}

// Data spools the message and answers with its queue id.
func (s *session) Data(r io.Reader) error {
	st := s.st
	env := st.env
	if env == nil || len(env.Rcpts) == 0 {
		return rNeedRcpt.err()
	}
	txn, err := st.cfg.Spool.Begin(st.ctx, env)
	if err != nil {
		st.log().Logf(logErr, "%s: SYSERR: queue: %v", st.qid, err)
		return rDataTempFail.err()
	}
	w := &bodyWriter{w: txn, max: st.cfg.CF.MaxMessageSize}
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(w, r, *buf)
	copyBufs.Put(buf)
	if err == nil && w.tooBig {
		err = errTooBig
	}
	if err != nil {
		txn.Abort()
		// The envelope is logged as abandoned with what was read, the
		// refused line's bytes before a bare CR or LF included.
		env.Size = w.size + st.partial
		if errors.Is(err, errTooBig) {
			return rSizeExceeded.err(w.max)
		}
		if errors.Is(err, errBareLF) || errors.Is(err, errBareCR) || errors.Is(err, net.ErrClosed) {
			return rDataTempFail.err()
		}
		return rDataTempFail.err()
	}
	var qid string
	if env.Discard {
		txn.Abort()
		qid = st.qid
	} else {
		qid, err = txn.Commit()
		if err != nil {
			st.log().Logf(logErr, "%s: SYSERR: queue commit: %v", st.qid, err)
			return rDataTempFail.err()
		}
	}
	msgID := w.msgID()
	if msgID == "" {
		msgID = env.MsgID
	}
	st.log().From(qid, maillog.From{Sender: st.mailEcho, Size: w.size, NRcpts: len(env.Rcpts), MsgID: msgID,
		BodyType: env.BodyType, Proto: st.proto(), Daemon: st.l.opts.Name, Relay: st.relay()})
	if env.Discard {
		st.log().Logf(logInfo, "%s: discarded", qid)
	}
	st.committed = true
	msg := rAccepted.err(qid)
	return msg
}

// authMechName is {auth_type} as sendmail logs it: the client's spelling
// of the mechanism.
func (st *connState) authMechName(mech string) string {
	if strings.EqualFold(st.authMechRaw, mech) {
		return st.authMechRaw
	}
	return mech
}

// AuthMechanisms implements smtp.AuthSession.
func (s *session) AuthMechanisms() []string { return s.st.authMechanisms() }

// Auth implements smtp.AuthSession with PLAIN and LOGIN over the
// server's Authenticator.
func (s *session) Auth(mech string) (sasl.Server, error) {
	st := s.st
	check := func(user, pass string) error {
		if err := st.cfg.Auth.Authenticate(user, pass); err != nil {
			st.log().AuthFailureDetail(st.qidForLog(), st.authMechName(mech), maillog.SASLDetail(mech), user, st.relay())
			return rAuthFailed.err()
		}
		st.authUser = user
		st.client.AuthMech = mech
		st.log().AuthOK(st.qidForLog(), st.relay(), user, st.authMechName(mech))
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return rAuthFailed.err()
			}
			return check(user, pass)
		}), nil
	case "LOGIN":
		return &loginServer{check: check}, nil
	}
	return nil, rAuthNoMech.err(mech)
}

// bodyWriter counts the message, enforces MaxMessageSize and notes the
// Message-Id header for the log.
type bodyWriter struct {
	w      io.Writer
	max    int64
	size   int64
	tooBig bool
	header []byte
	inHdr  bool
	seen   bool
}

var errTooBig = errors.New("message too big")

const maxHeaderScan = 64 << 10

func (b *bodyWriter) Write(p []byte) (int, error) {
	if !b.seen {
		b.seen, b.inHdr = true, true
	}
	if b.inHdr {
		b.header = append(b.header, p...)
		if i := bytes.Index(b.header, []byte("\r\n\r\n")); i >= 0 || bytes.HasPrefix(b.header, []byte("\r\n")) {
			if i >= 0 {
				b.header = b.header[:i+2]
			}
			b.inHdr = false
		} else if len(b.header) > maxHeaderScan {
			b.inHdr = false
		}
	}
	// size= counts the message with LF line ends, as the df file.
	b.size += int64(len(p) - bytes.Count(p, []byte("\r\n")))
	if b.max > 0 && b.size > b.max {
		b.tooBig = true
		return len(p), nil
	}
	if b.tooBig {
		return len(p), nil
	}
	return b.w.Write(p)
}

func (b *bodyWriter) msgID() string {
	for _, l := range strings.Split(string(b.header), "\r\n") {
		if len(l) > 11 && strings.EqualFold(l[:11], "message-id:") {
			return strings.TrimSpace(l[11:])
		}
	}
	return ""
}

// loginServer is the server side of SASL LOGIN (draft-murchison-sasl-login),
// which go-sasl lacks: prompts "Username:" and "Password:".
type loginServer struct {
	check      func(user, pass string) error
	user       string
	state      int
	gotInitial bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.state {
	case 0:
		l.state = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(resp)
		l.state = 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		if err := l.check(l.user, string(resp)); err != nil {
			return nil, true, err
		}
		return nil, true, nil
	}
	return nil, true, rAuthAborted.err()
}

func itoa(n int64) string {
	return formatInt(n)
}

var _ = accessdb.ClientAddr

// copyBufs are the buffers DATA copies message bodies through: one per
// message would be 32 KiB of garbage each.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
