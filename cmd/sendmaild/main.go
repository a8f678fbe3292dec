// SPDX-License-Identifier: MIT

// Command sendmaild is mailsuite's replacement for Sendmail 8.17's SMTP
// daemon. "sendmaild -bd [-C cf] [-L logdest]" reads the cf, listens on
// every DaemonPortOptions socket and serves SMTP in the foreground until
// SIGTERM or SIGINT; SIGHUP re-reads the cf and the maps and reopens the
// log. The other sendmail modes (-bs, -bp, -bi, -t, -q, argv[0] names)
// are not implemented yet; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"mailsuite/internal/maillog"
	"mailsuite/internal/smtpd"
)

// Exit statuses from sysexits.h, as sendmail uses them.
const (
	exUsage  = 64
	exOSErr  = 71
	exConfig = 78
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sendmaild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	daemon := fs.Bool("bd", false, "run as the SMTP daemon")
	foreground := fs.Bool("bD", false, "run as the SMTP daemon (sendmaild never forks into the background)")
	cfPath := fs.String("C", "/etc/mail/sendmail.cf", "configuration file")
	logDest := fs.String("L", "syslog", `log destination: "syslog", "-" (stderr) or a file`)
	if err := fs.Parse(args); err != nil {
		return exUsage
	}
	if !*daemon && !*foreground {
		fmt.Fprintln(stderr, "sendmaild: only the daemon mode (-bd) is implemented")
		return exUsage
	}
	lg, err := maillog.Open(*logDest, maillog.Options{Ident: "sendmail"})
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exOSErr
	}
	defer lg.Close()

	load := func() (smtpd.Config, func(), error) {
		cfg, warnings, closer, err := smtpd.LoadConfig(*cfPath, smtpd.LoadOptions{Log: lg})
		for _, w := range warnings {
			fmt.Fprintln(stderr, w)
		}
		if err != nil {
			return cfg, closer, err
		}
		// TODO(queue): internal/queue replaces this spool, which keeps
		// accepted messages as files and delivers nothing.
		dir := filepath.Join(cfg.CF.QueueDirectory, "mailsuite-incoming")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			closer()
			return cfg, func() {}, err
		}
		cfg.Spool = &smtpd.DirSpool{Dir: dir}
		return cfg, closer, nil
	}
	cfg, closer, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exConfig
	}
	srv, err := smtpd.NewServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exConfig
	}
	lns, opts, err := smtpd.Listen(cfg.CF)
	if err != nil {
		fmt.Fprintf(stderr, "sendmaild: %v\n", err)
		return exOSErr
	}
	lg.StartingDaemon(smtpd.Version, "SMTP")
	served := make(chan error, len(lns))
	for i := range lns {
		go func() { served <- srv.Serve(lns[i], opts[i]) }()
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		select {
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
			next, nextCloser, err := load()
			if err != nil {
				lg.Logf(maillog.MailErr, "SYSERR: reload %s: %v", *cfPath, err)
				continue
			}
			if err := srv.Reload(next); err != nil {
				nextCloser()
				lg.Logf(maillog.MailErr, "SYSERR: reload %s: %v", *cfPath, err)
				continue
			}
			// Sessions opened before the reload keep the old maps
			// until they end; the old access map stays open for them.
			closer = chain(closer, nextCloser)
		}
	}
}

func chain(a, b func()) func() { return func() { a(); b() } }

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
