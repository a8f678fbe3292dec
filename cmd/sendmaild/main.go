// SPDX-License-Identifier: MIT

// Command sendmaild is mailsuite's replacement for Sendmail 8.17. Under
// the names sendmail, mailq and newaliases (argv[0]) or with sendmail's
// flags it is the SMTP daemon (-bd, with local delivery and a queue run
// on start), a command-line submission (sendmail [-t] [-i] [-f from]
// [-F name] rcpt...), the queue listing (-bp, mailq), the alias database
// builder (-bi, newaliases), address verification (-bv) and a single
// queue run (-q). The wiring lives in internal/mta; see README.md for
// what is done.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mailsuite/internal/aliases"
	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/dsn"
	"mailsuite/internal/maillog"
	"mailsuite/internal/mta"
	"mailsuite/internal/queue"
	"mailsuite/internal/smtpd"
	"mailsuite/pkg/cf"
	"mailsuite/pkg/shadowauth"
)

// Exit statuses from sysexits.h, as sendmail uses them.
const (
	exUsage  = 64
	exNoUser = 67
	exOSErr  = 71
	exConfig = 78
)

func main() {
	os.Exit(run(filepath.Base(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the parsed sendmail flags.
type options struct {
	mode       string // "bd", "bp", "bi", "bv", "bm", "q", "bs"
	cfPath     string
	logDest    string
	from       string
	fullName   string
	headerRcpt bool
	ignoreDots bool
	verbose    bool
	queueEvery time.Duration
	queueSel   []mta.Selector
	setOpts    []string
	rcpts      []string
	// ret, envid and notify are -R, -V and -N, the DSN parameters.
	ret, envid, notify string
}

// plainError is a usage error sendmail prints without its name
// ("Invalid -R value").
type plainError string

func (e plainError) Error() string { return string(e) }

// parseArgs reads sendmail's command line: single-letter flags whose
// value may be attached (-ffrom) or the next word (-f from), -b<mode>,
// -o<x><value> and -O name=value.
func parseArgs(name string, args []string) (*options, error) {
	o := &options{mode: "bm", cfPath: "/etc/mail/sendmail.cf", logDest: "syslog"}
	switch name {
	case "mailq":
		o.mode = "bp"
	case "newaliases":
		o.mode = "bi"
	}
	value := func(i *int, a string) (string, error) {
		if len(a) > 2 {
			return a[2:], nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("option requires an argument -- '%c'", a[1])
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.rcpts = append(o.rcpts, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			o.rcpts = append(o.rcpts, a)
			continue
		}
		var err error
		switch a[1] {
		case 'b':
			switch m := a[2:]; m {
			case "d", "D":
				o.mode = "bd"
			case "p", "i", "v", "m", "s", "t":
				o.mode = "b" + m
			default:
				return nil, fmt.Errorf("Invalid operation mode %s", m)
			}
		case 'C':
			o.cfPath, err = value(&i, a)
		case 'L':
			o.logDest, err = value(&i, a)
		case 'f', 'r':
			o.from, err = value(&i, a)
		case 'F':
			o.fullName, err = value(&i, a)
		case 't':
			o.headerRcpt = true
		case 'i':
			o.ignoreDots = true
		case 'v':
			o.verbose = true
		case 'o':
			switch a {
			case "-oi":
				o.ignoreDots = true
			case "-oem", "-oee", "-oep", "-oeq", "-oew", "-om":
			default:
				return nil, fmt.Errorf("unsupported option %s", a)
			}
		case 'R':
			if o.ret, err = value(&i, a); err == nil && !strings.EqualFold(o.ret, "full") && !strings.EqualFold(o.ret, "hdrs") {
				err = plainError("Invalid -R value")
			}
		case 'V':
			if o.envid, err = value(&i, a); err == nil && !dsn.ValidXtext(o.envid) {
				err = plainError("Invalid syntax in -V flag")
			}
		case 'N':
			if o.notify, err = value(&i, a); err == nil && !validNotify(o.notify) {
				err = plainError("Invalid -N argument")
			}
		case 'O':
			var v string
			if v, err = value(&i, a); err == nil {
				o.setOpts = append(o.setOpts, v)
			}
		case 'q':
			if o.mode == "bm" {
				o.mode = "q"
			}
			if len(a) > 2 {
				if strings.IndexByte("RSI!", a[2]) >= 0 {
					var sel mta.Selector
					if sel, err = mta.ParseSelector(a[2:]); err == nil {
						o.queueSel = append(o.queueSel, sel)
					}
				} else if o.queueEvery, err = convtime(a[2:]); err != nil {
					err = fmt.Errorf("invalid queue interval %s", a[2:])
				}
			}
		default:
			return nil, fmt.Errorf("invalid option -- '%c'", a[1])
		}
		if err != nil {
			return nil, err
		}
	}
	if o.mode == "q" && o.queueEvery > 0 {
		return nil, errors.New("-q with an interval needs -bd")
	}
	return o, nil
}

// validNotify checks -N as sendmail does: "never" alone, or a list of
// success, failure and delay.
func validNotify(v string) bool {
	words := strings.Split(strings.ToLower(v), ",")
	for _, w := range words {
		switch w {
		case "never":
			if len(words) > 1 {
				return false
			}
		case "success", "failure", "delay":
		default:
			return false
		}
	}
	return true
}

func run(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseArgs(name, args)
	if err != nil {
		if pe, ok := err.(plainError); ok {
			fmt.Fprintln(stderr, pe)
		} else {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		return exUsage
	}
	lg, err := maillog.Open(o.logDest, maillog.Options{Ident: "sendmail"})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exOSErr
	}
	defer lg.Close()
	if o.mode == "bd" {
		return daemon(o, lg, stderr)
	}
	if o.mode == "bs" {
		return smtpStdio(o, lg, stdin, stdout, stderr)
	}
	if o.mode == "bt" {
		return addressTest(o, stdin, stdout, stderr)
	}
	c, err := cf.Load(o.cfPath, cf.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exConfig
	}
	if err := applyOptions(c, o.setOpts); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exUsage
	}
	switch o.mode {
	case "bp":
		lo := queue.ListOptions{Verbose: o.verbose, MinQueueAge: c.MinQueueAge, MaxQueueAge: c.MaxQueueAge,
			SortOrder: optionValue(c, "QueueSortOrder")}
		lo.QueueLA, _ = strconv.Atoi(optionValue(c, "QueueLA"))
		lo.QueueFactor, _ = strconv.ParseInt(optionValue(c, "QueueFactor"), 10, 64)
		if _, err := queue.List(stdout, c.QueueDirectory, lo); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exOSErr
		}
		return 0
	case "bi":
		return aliases.Newaliases(c.AliasFiles, stdout, stderr, lg, invoker().Name)
	}
	res, err := remote.SystemResolver()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exConfig
	}
	m, err := mta.New(mta.Options{CF: c, Log: lg, Resolver: res})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exOSErr
	}
	defer m.Close()
	ctx := context.Background()
	switch o.mode {
	case "bv":
		return verify(m, o.rcpts, stdout)
	case "q":
		ro := mta.RunOptions{Select: o.queueSel}
		if o.verbose {
			ro.Verbose = stdout
		}
		if _, err := m.RunQueue(ctx, ro); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exOSErr
		}
		return 0
	}
	if len(o.rcpts) == 0 && !o.headerRcpt {
		fmt.Fprintln(stderr, "Recipient names must be specified")
		return exUsage
	}
	u := invoker()
	sub := mta.Submission{Sender: u.Name, LocalUser: u.Name, FullName: o.fullName, Recipients: o.rcpts,
		HeaderRecipients: o.headerRcpt, IgnoreDots: o.ignoreDots, Ret: o.ret, EnvID: o.envid, Notify: o.notify}
	if o.from != "" {
		sub.Sender, sub.ExplicitSender = o.from, true
	}
	if sub.FullName == "" {
		sub.FullName, _, _ = strings.Cut(u.Gecos, ",")
	}
	now := c.DeliveryMode != 'q' && c.DeliveryMode != 'd'
	if _, err := m.Submit(ctx, sub, stdin, now); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exUsage
	}
	return 0
}

// invoker is the passwd entry of the calling user (root when unknown).
func invoker() shadowauth.User {
	u, err := shadowauth.LookupUID(shadowauth.DefaultPaths().Passwd, os.Getuid())
	if err != nil {
		return shadowauth.User{Name: "root"}
	}
	return u
}

// optionValue is the value of the cf's last O line named name.
func optionValue(c *cf.Config, name string) string {
	v := ""
	for _, o := range c.Options {
		if o.Name == name && o.Sub == "" {
			v = o.Value
		}
	}
	return v
}

// applyOptions applies -O name=value for the options the non-daemon
// modes use.
func applyOptions(c *cf.Config, opts []string) error {
	for _, kv := range opts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-O %s: expected name=value", kv)
		}
		switch k {
		case "QueueDirectory":
			c.QueueDirectory = v
		case "AliasFile":
			c.AliasFiles = strings.Split(v, ",")
		case "DeliveryMode":
			if v == "" {
				return errors.New("-O DeliveryMode: empty value")
			}
			c.DeliveryMode = v[0]
		default:
			return fmt.Errorf("-O %s: option not supported here", k)
		}
	}
	return nil
}

// verify prints sendmail -bv's lines for the local recipients.
func verify(m *mta.MTA, rcpts []string, stdout io.Writer) int {
	code := 0
	for _, r := range rcpts {
		user, domain, hasDomain := strings.Cut(r, "@")
		if hasDomain && !m.IsLocal(domain) {
			fmt.Fprintf(stdout, "%s... deliverable: mailer esmtp, host %s, user %s\n", r, domain, r)
			continue
		}
		targets, errs := m.Expander().Expand(strings.ToLower(user))
		for _, t := range targets {
			switch t.Kind {
			case aliases.Mailbox:
				fmt.Fprintf(stdout, "%s... deliverable: mailer local, user %s\n", t.Addr, t.Addr)
			case aliases.Program:
				fmt.Fprintf(stdout, "|%s... deliverable: mailer prog, user |%s\n", t.Addr, t.Addr)
			case aliases.File:
				fmt.Fprintf(stdout, "%s... deliverable: mailer *file*, user %s\n", t.Addr, t.Addr)
			default:
				_, d, _ := strings.Cut(t.Addr, "@")
				fmt.Fprintf(stdout, "%s... deliverable: mailer esmtp, host %s, user %s\n", t.Addr, d, t.Addr)
			}
		}
		for _, e := range errs {
			fmt.Fprintln(stdout, e)
			code = exNoUser
		}
	}
	return code
}

// daemon is -bd: the SMTP server on the MTA's queue, a queue run on start
// and, with -q<interval>, periodic queue runs.
func daemon(o *options, lg *maillog.Logger, stderr io.Writer) int {
	if _, err := mta.RebuildCF(o.cfPath, lg); err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exConfig
	}
	res, err := remote.SystemResolver()
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exConfig
	}
	load := func() (*mta.MTA, smtpd.Config, func(), error) {
		m, cfg, warnings, closer, err := mta.Load(o.cfPath, mta.LoadOptions{Log: lg, Resolver: res})
		for _, w := range warnings {
			fmt.Fprintln(stderr, w)
		}
		if err != nil {
			return nil, cfg, closer, err
		}
		return m, cfg, func() { m.Close(); closer() }, nil
	}
	m, cfg, closer, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exConfig
	}
	srv, err := smtpd.NewServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exConfig
	}
	// Catch signals before the first listener opens: a SIGTERM sent as
	// soon as the port answers must stop the daemon cleanly, not kill it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	lns, opts, err := smtpd.Listen(cfg.CF)
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exOSErr
	}
	modes := "SMTP"
	if o.queueEvery > 0 {
		// As sendmail logs a -bd -q30m daemon: "SMTP+queueing@00:30:00".
		modes += "+queueing@" + maillog.Duration(o.queueEvery)
	}
	lg.StartingDaemon(smtpd.Version, modes)
	served := make(chan error, len(lns))
	for i := range lns {
		go func() { served <- srv.Serve(lns[i], opts[i]) }()
	}
	runs := make(chan *mta.MTA, 1)
	go func() {
		for q := range runs {
			if _, err := q.RunQueue(context.Background(), mta.RunOptions{}); err != nil {
				lg.Logf(maillog.MailErr, "SYSERR: queue run: %v", err)
			}
		}
	}()
	queueRun := func(q *mta.MTA) {
		select {
		case runs <- q:
		default: // a run is already waiting
		}
	}
	queueRun(m)
	var tick <-chan time.Time
	if o.queueEvery > 0 {
		t := time.NewTicker(o.queueEvery)
		defer t.Stop()
		tick = t.C
	}

	for {
		select {
		case <-tick:
			queueRun(m)
		case err := <-served:
			if err != nil {
				fmt.Fprintf(stderr, "sendmaild: %v\n", err)
				shutdown(srv)
				return exOSErr
			}
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				err := shutdown(srv)
				closer()
				if err != nil {
					fmt.Fprintf(stderr, "sendmaild: shutdown: %v\n", err)
				}
				return 0
			}
			lg.Reopen()
			next, nextCfg, nextCloser, err := load()
			if err != nil {
				lg.Logf(maillog.MailErr, "SYSERR: reload %s: %v", o.cfPath, err)
				continue
			}
			if err := srv.Reload(nextCfg); err != nil {
				nextCloser()
				lg.Logf(maillog.MailErr, "SYSERR: reload %s: %v", o.cfPath, err)
				continue
			}
			// Sessions opened before the reload keep the old maps
			// and spool until they end; the old ones stay open for
			// them.
			m = next
			closer = chain(closer, nextCloser)
		}
	}
}

func chain(a, b func()) func() { return func() { a(); b() } }

// convtime reads a queue interval as sendmail's convtime does: a number
// with an optional unit (s, m, h, d, w; minutes without one), units
// adding up ("1h30m").
func convtime(s string) (time.Duration, error) {
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad interval %q", s)
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad interval %q", s)
		}
		unit := time.Minute
		if i < len(s) {
			switch s[i] {
			case 's':
				unit = time.Second
			case 'm':
				unit = time.Minute
			case 'h':
				unit = time.Hour
			case 'd':
				unit = 24 * time.Hour
			case 'w':
				unit = 7 * 24 * time.Hour
			default:
				return 0, fmt.Errorf("bad interval unit %q", s[i:])
			}
			i++
		}
		if n > int64((1<<63-1)/unit) || total > time.Duration(1<<63-1)-time.Duration(n)*unit {
			return 0, fmt.Errorf("interval %q too long", s)
		}
		total += time.Duration(n) * unit
		s = s[i:]
	}
	return total, nil
}

// shutdown stops accepting and gives the open sessions 30 seconds.
func shutdown(srv *smtpd.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
