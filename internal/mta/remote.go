// SPDX-License-Identifier: MIT

package mta

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailsuite/internal/deliver"
	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
	"mailsuite/pkg/accessdb"
)

// route is where the recipients of one remote domain go: the mailer
// (for the log's mailer= and its port) and the relay value handed to the
// courier as its smart host ("" means the domain's MX records). A
// mailertable entry with the error mailer gives fail instead.
type route struct {
	mailer string
	relay  string
	fail   *deliver.Status
}

// remoteSetup holds what the courier needs from the cf, made once.
type remoteSetup struct {
	once        sync.Once
	resolver    *net.Resolver
	localNames  []string
	localAddrs  []netip.Addr
	mailertable accessdb.Map
	authinfo    accessdb.Map
}

func (m *MTA) remote(ctx context.Context) *remoteSetup {
	r := &m.rs
	r.once.Do(func() {
		if r.resolver == nil {
			if res, err := remote.SystemResolver(); err == nil {
				r.resolver = res
			} else {
				m.log.Logf(0o23, "SYSERR: %s: %v", remote.ResolvConfEnv, err)
				r.resolver = net.DefaultResolver
			}
		}
		w := append([]string{m.hostname, "localhost"}, m.cf.Class("w")...)
		w = append(w, smtpd.RuntimeClassW(ctx, m.cf, m.hostname, r.resolver)...)
		for _, name := range w {
			if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
				if a, err := netip.ParseAddr(strings.TrimPrefix(name[1:len(name)-1], "IPv6:")); err == nil {
					r.localAddrs = append(r.localAddrs, a.Unmap())
				}
				continue
			}
			r.localNames = append(r.localNames, name)
		}
		for name, dst := range map[string]*accessdb.Map{"mailertable": &r.mailertable, "authinfo": &r.authinfo} {
			mt := m.cf.Maps[name]
			if mt == nil {
				continue
			}
			db, err := accessdb.OpenDB(mt.File, accessdb.DBOptions{NoFoldCase: mt.NoFoldCase(), IncludeNull: mt.IncludeNull(),
				NoTryNull: mt.NoTryNull(), Optional: mt.Optional(), DontBlameSendmail: m.cf.DontBlameSendmail})
			if err != nil {
				m.log.Logf(0o23, "SYSERR: %s %s: %v", name, mt.File, err)
			} else {
				*dst = db
			}
		}
	})
	return r
}

// routeFor decides the route of a remote domain as sendmail's stock
// rulesets do: FEATURE(mailertable) first (the domain, then ".parent"
// domains), then the smart host (DS, "relay" mailer unless the value
// names one), else the esmtp mailer and the domain's MX records.
func (m *MTA) routeFor(ctx context.Context, domain string) route {
	rs := m.remote(ctx)
	if rs.mailertable != nil {
		d := strings.ToLower(strings.TrimSuffix(domain, "."))
		keys := []string{d}
		for rest := d; ; {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			keys = append(keys, "."+rest)
		}
		for _, k := range keys {
			v, ok, err := rs.mailertable.Lookup(k)
			if err != nil || !ok {
				continue
			}
			mailer, host, hasMailer := strings.Cut(v, ":")
			if !hasMailer {
				mailer, host = "esmtp", v
			}
			if mailer == "error" {
				return route{mailer: "error", fail: errorMailer(host)}
			}
			return route{mailer: mailer, relay: host}
		}
	}
	if ds, ok := m.cf.Macro("S"); ok && ds != "" && !strings.Contains(ds, "$") {
		mailer, host, hasMailer := strings.Cut(ds, ":")
		if !hasMailer {
			mailer, host = "relay", ds
		}
		return route{mailer: mailer, relay: host}
	}
	return route{mailer: "esmtp"}
}

// errorMailer turns a mailertable "error:" value ("5.7.1:550 No mail
// here", "nouser", "550 text") into a failure status.
func errorMailer(v string) *deliver.Status {
	st := deliver.StatusFor(deliver.ExUnavailable, "")
	code, text, _ := strings.Cut(v, ":")
	if strings.Count(code, ".") == 2 && text != "" {
		st.DSN, st.Report = code, code
		v = text
	}
	if len(v) > 4 && v[3] == ' ' && (v[0] == '4' || v[0] == '5') {
		st.Reply, v = v[:3], v[4:]
		if v[0] == '4' {
			st = deliver.StatusFor(deliver.ExTempFail, "")
		}
	}
	if v != "" {
		st.Stat = v
	}
	return &st
}

// courier returns the courier for a route.
func (m *MTA) courier(ctx context.Context, rt route, o attemptOptions) *remote.Courier {
	rs := m.remote(ctx)
	c := &remote.Courier{
		Resolver:   rs.resolver,
		HeloName:   m.hostname,
		LocalNames: rs.localNames,
		LocalAddrs: rs.localAddrs,
		SmartHost:  rt.relay,
		Port:       remote.MailerPort(m.cf.Mailers[rt.mailer]),
		Timeouts:   m.cf.Timeouts,
		Cache:      o.conns,
		Mailer:     rt.mailer,
	}
	if o.verbose != nil {
		c.Progress = func(rcpts []string, line string) {
			if len(rcpts) > 0 {
				line = strings.Join(rcpts, ",") + "... " + line
			}
			fmt.Fprintln(o.verbose, line)
		}
	}
	if rs.authinfo != nil {
		c.AuthInfo = func(key string) (string, bool) {
			v, ok, err := rs.authinfo.Lookup(key)
			return v, ok && err == nil
		}
	}
	dial := m.dial
	if dial == nil {
		d := &net.Dialer{Timeout: m.cf.Timeouts.Connect}
		if d.Timeout == 0 {
			d.Timeout = 5 * time.Minute
		}
		dial = d.DialContext
	}
	c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if o.down != nil {
			// One dial per address at a time, so the others learn
			// from its failure instead of repeating it.
			v, _ := o.down.LoadOrStore(addr, &hostState{})
			h := v.(*hostState)
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.err != nil {
				return nil, h.err
			}
			conn, err := dial(ctx, network, addr)
			if err != nil && ctx.Err() == nil {
				h.err = err
			}
			if err != nil {
				return nil, err
			}
			if o.verbose != nil {
				return &tapConn{Conn: conn, w: o.verbose}, nil
			}
			return conn, nil
		}
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if o.verbose != nil {
			return &tapConn{Conn: conn, w: o.verbose}, nil
		}
		return conn, nil
	}
	return c
}

// hostState is what a queue run knows about one address.
type hostState struct {
	mu  sync.Mutex
	err error // the failed connection's error, nil while it works
}

// remoteMessage is the courier's view of a queued message for a mailer:
// the headers sendmail adds for its flags, the qf header and the df body.
func (m *MTA) remoteMessage(mailer string, de *deliver.Envelope, dfPath string, env *queue.Envelope, domain string, rcpts []queue.Recipient) *remote.Message {
	flags := "mDFMuX"
	if ml := m.cf.Mailers[mailer]; ml != nil {
		flags = ml.Flags
	}
	var size int64
	if fi, err := os.Stat(dfPath); err == nil {
		size = fi.Size() + int64(len(headerText(env.Headers)))
	}
	from := bare(env.Sender)
	if from != "" && !strings.Contains(from, "@") {
		// The SMTP mailers qualify a local sender with $j.
		from += "@" + m.hostname
	}
	msg := &remote.Message{
		From:     from,
		Domain:   domain,
		Size:     size,
		EightBit: strings.EqualFold(env.BodyType, "8BITMIME") || strings.Contains(env.Flags, "8"),
		BodyType: strings.ToUpper(env.BodyType),
		EnvID:    env.EnvID, // xtext, as queued and as sendmail sends it
		Open: func() (io.ReadCloser, error) {
			df, err := os.Open(dfPath)
			if err != nil {
				return nil, err
			}
			r, err := m.messageReader(de, flags, env, df)
			if err != nil {
				df.Close()
				return nil, err
			}
			return readCloser{r, df}, nil
		},
	}
	switch {
	case strings.Contains(env.Flags, "n"):
		msg.Ret = smtp.DSNReturnHeaders
	case strings.Contains(env.Flags, "d"):
		msg.Ret = smtp.DSNReturnFull
	}
	for _, r := range rcpts {
		rc := remote.Rcpt{Addr: bare(r.Addr), ORCPT: r.ORcpt}
		if strings.Contains(r.Flags, "N") {
			for _, f := range []struct {
				c byte
				n smtp.DSNNotify
			}{{'S', smtp.DSNNotifySuccess}, {'F', smtp.DSNNotifyFailure}, {'D', smtp.DSNNotifyDelayed}} {
				if strings.IndexByte(r.Flags, f.c) >= 0 {
					rc.Notify = append(rc.Notify, f.n)
				}
			}
			if len(rc.Notify) == 0 {
				rc.Notify = []smtp.DSNNotify{smtp.DSNNotifyNever}
			}
		}
		msg.Rcpts = append(msg.Rcpts, rc)
	}
	return msg
}

type readCloser struct {
	io.Reader
	io.Closer
}

// bare strips the angle brackets of a queued address.
func bare(a string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(a), "<"), ">")
}

// domainOf is the domain of an address, lower case.
func domainOf(a string) string {
	a = bare(a)
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return strings.ToLower(strings.TrimSuffix(a[i+1:], "."))
	}
	return ""
}

// tapConn copies an SMTP client dialogue to w as sendmail -v shows it:
// our commands after ">>> ", the server's lines as they come. It stops at
// STARTTLS, after which the bytes are ciphertext.
type tapConn struct {
	net.Conn
	w       io.Writer
	mu      sync.Mutex
	stopped bool
	in, out []byte
}

func (t *tapConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped && n > 0 {
		t.in = flushLines(t.w, append(t.in, p[:n]...), "")
	}
	return n, err
}

func (t *tapConn) Write(p []byte) (int, error) {
	t.mu.Lock()
	if !t.stopped {
		if bytes.HasPrefix(bytes.ToUpper(p), []byte("STARTTLS")) {
			io.WriteString(t.w, ">>> STARTTLS\n")
			t.stopped = true
		} else if bytes.HasPrefix(p, []byte("MAIL ")) || bytes.HasPrefix(p, []byte("RCPT ")) ||
			bytes.HasPrefix(p, []byte("EHLO ")) || bytes.HasPrefix(p, []byte("HELO ")) ||
			bytes.Equal(p, []byte("DATA\r\n")) || bytes.Equal(p, []byte("QUIT\r\n")) || bytes.Equal(p, []byte("RSET\r\n")) {
			t.out = flushLines(t.w, append(t.out, p...), ">>> ")
		} else if bytes.HasSuffix(p, []byte("\r\n.\r\n")) || bytes.Equal(p, []byte(".\r\n")) {
			io.WriteString(t.w, ">>> .\n")
		}
	}
	t.mu.Unlock()
	return t.Conn.Write(p)
}

// flushLines writes the complete lines of b with prefix and returns the
// rest.
func flushLines(w io.Writer, b []byte, prefix string) []byte {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return b
		}
		io.WriteString(w, prefix+strings.TrimRight(string(b[:i]), "\r")+"\n")
		b = b[i+1:]
	}
}
