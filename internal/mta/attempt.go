// SPDX-License-Identifier: MIT

package mta

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailsuite/internal/aliases"
	"mailsuite/internal/deliver"
	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/dsn"
	"mailsuite/internal/maillog"
	"mailsuite/internal/queue"
	"mailsuite/pkg/cf"
	"mailsuite/pkg/shadowauth"
)

// attemptOptions tune one delivery attempt.
type attemptOptions struct {
	// retry is set for a queue run: sendmail adds RetryFactor to the
	// priority each time a queue run reads the qf (readqf).
	retry bool
	// verbose receives sendmail -v's lines (the SMTP dialogue and each
	// recipient's status); nil for none.
	verbose io.Writer
	// down remembers, for one queue run, the addresses whose connection
	// failed: later messages to them fail at once with the same error
	// instead of waiting for the same timeout again (sendmail's
	// connection cache does the same within a run).
	down *sync.Map
	// conns is the connection cache to use; nil means none (a QUIT
	// after every delivery).
	conns *remote.ConnCache
	// locked is the message's qf, already locked and read (the
	// background attempt right after acceptance); nil means Lock it.
	locked *queue.Locked
	// seq and of number a verbose queue run's messages ("Running
	// /var/spool/mqueue/<id> (sequence 1 of 2)"); of is 0 outside one.
	seq, of int
	// recorded is set for the background attempt right after
	// acceptance: Commit wrote the qf with this first attempt already
	// counted (N1, K), so it is on disk before it is made and needs no
	// rewrite of its own. It applies only while the qf still says so
	// (no one else has attempted the message since).
	recorded bool
}

// outcome is one recipient's result in an attempt.
type outcome struct {
	rcpt   queue.Recipient // the queue entry it came from
	addr   string          // the address logged and reported
	st     deliver.Status
	mailer string
	res    *remote.Result // for remote recipients
	keep   *queue.Recipient
	// exited: st is a mailer program's exit code; parent is the alias
	// a program target was expanded from.
	exited bool
	parent string
	// member is the mailbox a local recipient reached through an alias
	// or .forward ("" when it is its own); several says the alias
	// named more than one address.
	member  string
	several bool
}

// Deliver makes one delivery attempt for every recipient of queued
// message id, local and remote: the attempt is recorded in the qf first
// (N, K), each recipient that is done (sent, or failed for good and
// reported to the sender) leaves the qf, deferred ones keep their
// status (M lines) for mailq, and the message leaves the queue when no
// recipient is left. Failures are returned to the sender in a DSN queued
// (and delivered) as a message of its own, and a delay warning is sent
// once Timeout.queuewarn has passed. ErrLocked means another process
// has the message.
func (m *MTA) Deliver(ctx context.Context, id string) error {
	return m.attempt(ctx, id, attemptOptions{})
}

func (m *MTA) attempt(ctx context.Context, id string, o attemptOptions) error {
	l := o.locked
	if l == nil {
		var err error
		if l, err = m.q.Lock(id); err != nil {
			return err
		}
	}
	defer l.Unlock()
	env := *l.Envelope()
	env.Recipients = append([]queue.Recipient(nil), env.Recipients...)
	if len(env.Recipients) == 0 {
		return l.Done()
	}
	if !o.recorded || o.retry || env.Attempts != 1 {
		if o.retry {
			env.Priority += m.factor("RetryFactor", queue.RetryFactor)
		}
		env.Attempts++
		env.LastAttempt = m.now().Unix()
		// On disk before the attempt: a crash from here on costs at
		// most this one attempt, never a burst of retries.
		if err := l.Update(&env); err != nil {
			return err
		}
	}
	if o.verbose != nil {
		// As sendmail -v prints it: the qf's path without its "qf".
		if o.of > 0 {
			fmt.Fprintf(o.verbose, "\nRunning %s (sequence %d of %d)\n", filepath.Join(m.q.Dir(), id), o.seq, o.of)
		} else {
			fmt.Fprintf(o.verbose, "\nRunning %s\n", filepath.Join(m.q.Dir(), id))
		}
	}
	de := m.deliverEnvelope(id, &env)
	var outs []outcome
	type group struct {
		rt     route
		domain string
		rcpts  []queue.Recipient
	}
	var groups []*group
	byKey := map[string]*group{}
	addRemote := func(r queue.Recipient) {
		d := domainOf(r.Addr)
		rt := m.routeFor(ctx, d)
		if rt.fail != nil {
			oc := outcome{rcpt: r, addr: r.Addr, st: *rt.fail, mailer: rt.mailer}
			m.logTo(id, &env, oc, m.now())
			if oc.st.Temporary() {
				nr := r
				oc.keep = &nr
			}
			outs = append(outs, oc)
			return
		}
		key := rt.mailer + "\x00" + rt.relay
		if rt.relay == "" {
			key += "\x00" + d
		}
		g := byKey[key]
		if g == nil {
			g = &group{rt: rt, domain: d}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.rcpts = append(g.rcpts, r)
	}
	localMailer := m.cf.Mailers["local"]
	if localMailer == nil {
		localMailer = &cf.Mailer{Name: "local", Path: "mail.local", Flags: "lsDFMAw5:/|@qPSXfmnz9", Argv: []string{"mail.local", "-l"}}
	}
	for _, r := range env.Recipients {
		a := bare(r.Addr)
		if strings.HasPrefix(a, "|") {
			outs = append(outs, m.runProgram(ctx, de, l.DataPath(), &env, r, a[1:], parseCtl(r.Ctl)))
			continue
		}
		if strings.HasPrefix(a, "/") {
			outs = append(outs, m.writeFile(ctx, de, l.DataPath(), &env, r, a, parseCtl(r.Ctl)))
			continue
		}
		user, isLocal := m.localPart(r.Addr)
		targets, errs, handled := m.expandRcpt(r.Addr, user, isLocal)
		if !handled {
			addRemote(r)
			continue
		}
		for _, e := range errs {
			st := deliver.StatusFor(deliver.ExNoUser, "")
			if !errors.Is(e, aliases.ErrUserUnknown) {
				st = deliver.StatusFor(deliver.ExUnavailable, "")
				st.Stat = e.Error()
			}
			m.log.AddrError(id, r.Addr, st.Stat)
			outs = append(outs, outcome{rcpt: r, addr: r.Addr, st: st, mailer: "local"})
		}
		for _, t := range targets {
			switch t.Kind {
			case aliases.Mailbox:
				start := m.now()
				st, exited := m.deliverOne(ctx, localMailer, de, l.DataPath(), &env, t.Addr)
				oc := outcome{rcpt: r, addr: r.Addr, st: st, mailer: localMailer.Name, exited: exited}
				if t.Addr != user {
					oc.member, oc.several = t.Addr, len(targets)+len(errs) > 1
				}
				m.logTo(id, &env, oc, start)
				if st.Temporary() {
					nr := r
					if t.Addr != user {
						nr = queue.Recipient{Flags: childFlags(r.Flags), Addr: t.Addr, Ctl: r.Ctl}
					}
					oc.keep = &nr
				}
				outs = append(outs, oc)
			case aliases.Program:
				oc := m.runProgram(ctx, de, l.DataPath(), &env, queue.Recipient{Flags: childFlags(r.Flags), Addr: "|" + t.Addr, Ctl: ctlText(t.Ctl, "|"+t.Addr, r.Ctl), Final: r.Final}, t.Addr, t.Ctl)
				oc.parent = r.Addr
				outs = append(outs, oc)
			case aliases.File:
				oc := m.writeFile(ctx, de, l.DataPath(), &env, queue.Recipient{Flags: childFlags(r.Flags), Addr: t.Addr, Ctl: ctlText(t.Ctl, t.Addr, r.Ctl), Final: r.Final}, t.Addr, t.Ctl)
				oc.parent = r.Addr
				outs = append(outs, oc)
			case aliases.Remote:
				addRemote(queue.Recipient{Flags: childFlags(r.Flags), Addr: "<" + t.Addr + ">", Ctl: r.Ctl, Final: r.Final})
			}
		}
	}
	for _, g := range groups {
		start := m.now()
		c := m.courier(ctx, g.rt, o)
		results := c.Deliver(ctx, m.remoteMessage(g.rt.mailer, de, l.DataPath(), &env, g.domain, g.rcpts))
		if len(results) > 0 && results[0].AuthMech != "" {
			m.log.AuthClient(strings.TrimSuffix(results[0].RemoteMTA, "."), results[0].AuthMech)
		}
		for i, res := range results {
			res := res
			r := g.rcpts[i]
			oc := outcome{rcpt: r, addr: r.Addr, st: res.Status, mailer: g.rt.mailer, res: &res}
			m.logTo(id, &env, oc, start)
			if res.Temporary() {
				nr := r
				oc.keep = &nr
			}
			outs = append(outs, oc)
		}
	}
	// Programs already logged; local and remote logged above.
	return m.finish(ctx, l, &env, outs, o)
}

// logTo writes the attempt's to= line.
func (m *MTA) logTo(id string, env *queue.Envelope, oc outcome, start time.Time) {
	t := maillog.To{
		Rcpt:    oc.addr,
		CtlAddr: m.ctlAddr(env),
		Delay:   m.now().Sub(time.Unix(env.Created, 0)),
		XDelay:  m.now().Sub(start),
		Mailer:  oc.mailer,
		Pri:     env.Priority,
		DSN:     oc.st.DSN,
		Stat:    oc.st.Stat,
	}
	if oc.res != nil {
		t.Relay = oc.res.Relay
		if !oc.res.Sent() {
			t.Reply = oc.res.Reply
		}
	}
	m.log.To(id, t)
}

// runProgram delivers to a "|command" target through the cf's prog
// mailer (sendmail's Mprog, "sh -c $u").
func (m *MTA) runProgram(ctx context.Context, de *deliver.Envelope, dfPath string, env *queue.Envelope, r queue.Recipient, command string, ctl *aliases.Ctl) outcome {
	mailer := m.cf.Mailers["prog"]
	if mailer == nil {
		mailer = &cf.Mailer{Name: "prog", Path: "/bin/sh", Flags: "lsDFMoqeu9", Argv: []string{"sh", "-c", "$u"}}
	}
	return m.deliverAs(ctx, de, dfPath, env, r, mailer, true, ctl, func(msg io.Reader, cred *syscall.Credential) deliver.Status {
		p := &deliver.Program{Mailer: mailer, Sender: de.Sender, User: command, Host: m.hostname, Dir: m.q.Dir()}
		if cred != nil {
			p.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
			if u, err := shadowauth.LookupUID(m.passwd, int(cred.Uid)); err == nil {
				p.Home = u.Home // $z for D=
			}
		}
		return p.Run(ctx, msg)
	})
}

// deliverAs is the part of a |program or /file delivery both share: the
// message as the mailer receives it, the credentials sendmail would use
// as root (the owner of the .forward or :include: that named the target,
// else the mailer's U=, else DefaultUser; nil when none applies), the
// to= line, and the recipient kept for a later run on a temporary
// failure. deliver does the delivery itself.
func (m *MTA) deliverAs(ctx context.Context, de *deliver.Envelope, dfPath string, env *queue.Envelope, r queue.Recipient, mailer *cf.Mailer, exited bool, ctl *aliases.Ctl, deliverMsg func(msg io.Reader, cred *syscall.Credential) deliver.Status) outcome {
	start := m.now()
	oc := outcome{rcpt: r, addr: r.Addr, mailer: mailer.Name, exited: exited}
	df, err := os.Open(dfPath)
	if err != nil {
		oc.st = deliver.StatusFor(deliver.ExTempFail, err.Error())
	} else {
		defer df.Close()
		msg, err := m.messageReader(de, mailer.Flags, env, df)
		if err != nil {
			oc.st = deliver.StatusFor(deliver.ExTempFail, err.Error())
		} else {
			var dc *deliver.Controller
			if ctl != nil {
				dc = &deliver.Controller{Name: ctl.Name, UID: ctl.UID, GID: ctl.GID}
			}
			cred := deliver.MailerCredential(mailer, dc, m.cf.DefaultUser, deliver.Users{Passwd: m.passwd})
			oc.st = deliverMsg(msg, cred)
		}
	}
	m.logTo(de.QID, env, oc, start)
	if oc.st.Temporary() {
		keep := r
		oc.keep = &keep
	}
	return oc
}

// messageReader is the message as a mailer with flags receives it: the
// headers sendmail adds (Return-Path for flag P, Received, and Date,
// From, Message-Id when missing), the qf header and the df body. A
// notification we made (macro mailsuite_dsn) already carries its
// Received and gets only Return-Path: <>.
func (m *MTA) messageReader(de *deliver.Envelope, flags string, env *queue.Envelope, df io.Reader) (io.Reader, error) {
	if macro(env, dsnMacro) != "" {
		prefix := ""
		if strings.IndexByte(flags, 'P') >= 0 {
			prefix = "Return-Path: <>\n"
		}
		return io.MultiReader(strings.NewReader(prefix+headerText(env.Headers)), bufio.NewReader(df)), nil
	}
	return deliver.NewMessage(de, flags, io.MultiReader(strings.NewReader(headerText(env.Headers)), bufio.NewReader(df)))
}

// finish records the outcomes: failures are returned to the sender,
// a delay warning goes out once past Timeout.queuewarn, and past
// Timeout.queuereturn the deferred recipients are returned too. Then the
// qf keeps the deferred recipients, or the message leaves the queue.
func (m *MTA) finish(ctx context.Context, l *queue.Locked, env *queue.Envelope, outs []outcome, o attemptOptions) error {
	id := l.ID()
	now := m.now()
	age := now.Sub(time.Unix(env.Created, 0))
	warn, ret := m.queueTimes(env)
	var keep []queue.Recipient
	var failed, delayed []outcome
	// listed are the failed recipients and those delivered with
	// NOTIFY=SUCCESS, in attempt order, as a bounce lists them; noted
	// are the delivered and deferred ones, for a return receipt.
	var listed, noted []outcome
	receipts := 0
	lastMsg := ""
	if o.verbose != nil {
		verboseStatus(o.verbose, outs)
	}
	for _, oc := range outs {
		switch {
		case oc.keep != nil:
			if ret > 0 && age >= ret {
				// Timeout.queuereturn: give up on this one.
				oc.st.Code = deliver.ExUnavailable
				oc.st.Report = "4.4.7"
				oc.st.DSN = "4.4.7"
				failed = append(failed, oc)
				listed = append(listed, oc)
				continue
			}
			k := *oc.keep
			k.Message = oc.st.Stat
			keep = append(keep, k)
			delayed = append(delayed, oc)
			noted = append(noted, oc)
			lastMsg = oc.st.Stat
		case oc.st.Sent():
			if m.wantsReceipt(env, oc) {
				listed = append(listed, oc)
				noted = append(noted, oc)
				receipts++
			}
		default:
			failed = append(failed, oc)
			listed = append(listed, oc)
		}
	}
	var notes []*notice
	if len(failed) > 0 {
		msg := failed[len(failed)-1].st.Stat
		if ret > 0 && age >= ret {
			msg = "Cannot send message for " + dsn.Interval(ret)
		}
		notes = append(notes, &notice{kind: dsn.Failure, outs: listed, msg: msg, ret: ret})
	} else if receipts > 0 {
		notes = append(notes, &notice{kind: dsn.Receipt, outs: noted, msg: "Return receipt"})
	}
	if len(delayed) > 0 && warn > 0 && age >= warn && !strings.Contains(env.Flags, "w") && bare(env.Sender) != "" {
		notes = append(notes, &notice{kind: dsn.Delay, outs: delayed, msg: "Warning: could not send message for past " + dsn.Interval(warn), warn: warn, ret: ret})
		env.Flags = withFlag(env.Flags, 'w')
	}
	// The notifications are queued before the qf forgets the
	// recipients: a crash in between repeats a notification, never
	// loses one.
	var queued []string
	for _, n := range notes {
		nid, err := m.queueNotice(ctx, l, env, n, o)
		if err != nil {
			m.log.Logf(maillog.MailErr, "%s: SYSERR: cannot queue DSN: %v", id, err)
			// Keep the failed recipients for the next run.
			if n.kind == dsn.Failure {
				for _, oc := range n.outs {
					if oc.st.Sent() {
						continue
					}
					k := oc.rcpt
					k.Message = oc.st.Stat
					keep = append(keep, k)
				}
			}
			continue
		}
		if nid != "" {
			queued = append(queued, nid)
		}
	}
	env.Recipients = keep
	env.Message = lastMsg
	var err error
	if len(keep) == 0 {
		err = l.Done()
	} else {
		err = l.Update(env)
	}
	l.Unlock()
	for _, nid := range queued {
		if e := m.attempt(ctx, nid, attemptOptions{verbose: o.verbose}); e != nil && !errors.Is(e, queue.ErrLocked) {
			m.log.Logf(maillog.MailErr, "%s: SYSERR: delivery: %v", nid, e)
		}
	}
	return err
}

// queueTimes are Timeout.queuewarn and Timeout.queuereturn for the
// message's precedence class (and the DSN values for notifications).
func (m *MTA) queueTimes(env *queue.Envelope) (warn, ret time.Duration) {
	t := m.cf.Timeouts
	if bare(env.Sender) == "" {
		return t.QueueWarn.DSN, t.QueueReturn.DSN
	}
	class := 0
	for _, h := range env.Headers {
		if strings.EqualFold(h.Name, "precedence") {
			class = m.cf.Priorities[strings.ToLower(strings.TrimSpace(h.Value))]
		}
	}
	switch {
	case class > 0:
		return t.QueueWarn.Urgent, t.QueueReturn.Urgent
	case class < 0:
		return t.QueueWarn.NonUrgent, t.QueueReturn.NonUrgent
	}
	return t.QueueWarn.Normal, t.QueueReturn.Normal
}

// factor is one of the cf's work factors (RetryFactor, RecipientFactor,
// ClassFactor), or sendmail's default.
func (m *MTA) factor(name string, def int64) int64 {
	v := ""
	for _, o := range m.cf.Options {
		if o.Name == name && o.Sub == "" {
			v = o.Value
		}
	}
	var n int64
	if _, err := fmt.Sscan(v, &n); err != nil {
		return def
	}
	return n
}

// verboseStatus prints each recipient's status as sendmail -v does: the
// recipients one SMTP delivery carried share a line for the outcome of
// the whole delivery ("a@x,b@x... Sent (Ok)", or the connection's
// failure); a recipient refused at its own RCPT gets a line of its own.
func verboseStatus(w io.Writer, outs []outcome) {
	shared := func(oc outcome) bool { return oc.res != nil && (oc.st.Code == deliver.ExOK || oc.res.Reply == "") }
	for i := 0; i < len(outs); {
		addrs := []string{outs[i].addr}
		j := i + 1
		for ; j < len(outs); j++ {
			a, b := outs[i], outs[j]
			if !shared(a) || !shared(b) || a.st.Stat != b.st.Stat || a.res.Relay != b.res.Relay {
				break
			}
			addrs = append(addrs, b.addr)
		}
		fmt.Fprintf(w, "%s... %s\n", strings.Join(addrs, ","), outs[i].st.Stat)
		i = j
	}
}
