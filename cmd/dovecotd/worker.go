// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"mailsuite/internal/imapd"
	"mailsuite/internal/maillog"
	"mailsuite/internal/pop3d"
	"mailsuite/internal/privsep"
)

// workerMain is a mail worker: it serves the sessions the root dovecotd
// hands it, as the user it was started as, until the root process closes
// the control socket (no session left) or it gets SIGTERM (shutdown:
// every session gets Dovecot's "Server shutting down.").
func workerMain(stderr io.Writer) int {
	w, b, err := privsep.NewWorker()
	if err != nil {
		fmt.Fprintf(stderr, "dovecotd: mail worker: %v\n", err)
		return exitFatal
	}
	defer w.Close()
	var hello workerHello
	if err := json.Unmarshal(b, &hello); err != nil {
		fmt.Fprintf(stderr, "dovecotd: mail worker: configuration: %v\n", err)
		return exitFatal
	}
	opts := maillog.Options{Ident: hello.Log.Ident, NoPID: true}
	var lg *maillog.Logger
	switch hello.Log.Dest {
	case "fd":
		out := &swapWriter{w: os.NewFile(logFD, "log")}
		lg = maillog.New(out, opts)
		w.Notice = func(msg []byte, f *os.File) {
			if string(msg) == noticeLog && f != nil {
				out.swap(f)
			} else if f != nil {
				f.Close()
			}
		}
	case "stderr":
		lg, err = maillog.Open("stderr", opts)
	default:
		lg, err = maillog.Open("syslog", opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dovecotd: mail worker: log: %v\n", err)
		return exitFatal
	}
	// mail_privileged_group, for the dotlock and creation of an INBOX in
	// the spool (pkg/mbox uses it for nothing else).
	ilock, plock := hello.IMAP.Lock.options(), hello.POP3.Lock.options()
	ilock.Privileged, plock.Privileged = w.Privileged(), w.Privileged()
	isrv := imapd.New(imapd.Config{
		MailLocation: hello.IMAP.MailLocation,
		Mailboxes:    hello.IMAP.Mailboxes,
		IdleNotify:   hello.IMAP.IdleNotify,
		Lock:         ilock,
		Log:          lg,
	})
	p := hello.POP3
	pw, err := pop3d.NewWorker(pop3d.Config{
		MailLocation: p.MailLocation, Lock: plock, Hostname: p.Hostname, UIDLFormat: p.UIDLFormat,
		NoFlagUpdates: p.NoFlagUpdates, LockSession: p.LockSession, DeleteType: p.DeleteType, DeletedFlag: p.DeletedFlag,
		LogoutFormat: p.LogoutFormat, IdleTimeout: p.IdleTimeout, Log: lg,
	})
	if err != nil {
		fmt.Fprintf(stderr, "dovecotd: mail worker: pop3: %v\n", err)
		return exitFatal
	}
	// SIGHUP is the root process's (log reopening reaches workers on
	// the control socket); a stray one must not end the sessions.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var sessions sync.WaitGroup
	done := func() {
		w.Done()
		sessions.Done()
	}
	ctrlGone := make(chan struct{})
	go func() {
		defer close(ctrlGone)
		for {
			body, f, err := w.Next()
			if err != nil {
				if !privsep.IsClosed(err) {
					fmt.Fprintf(stderr, "dovecotd: mail worker: %v\n", err)
				}
				return
			}
			conn, err := net.FileConn(f)
			f.Close()
			var m sessionMsg
			if err == nil {
				err = json.Unmarshal(body, &m)
			}
			if err != nil {
				fmt.Fprintf(stderr, "dovecotd: mail worker: session: %v\n", err)
				if conn != nil {
					conn.Close()
				}
				w.Done()
				continue
			}
			sessions.Add(1)
			switch {
			case m.IMAP != nil:
				if err := isrv.ServeHandoff(conn, m.IMAP, done); err != nil {
					done()
				}
			case m.POP3 != nil:
				pw.ServeHandoff(ctx, conn, m.POP3, done)
			default:
				conn.Close()
				done()
			}
		}
	}()
	select {
	case <-ctx.Done():
	case <-ctrlGone:
		// The root process has no more sessions for us: finish the
		// ones served (none, unless it died), then exit.
		idle := make(chan struct{})
		go func() { sessions.Wait(); close(idle) }()
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
	isrv.Close()
	pw.Shutdown()
	sessions.Wait()
	return 0
}

// swapWriter is the worker's log file, replaced when the root process
// reopens log_path (SIGHUP after logrotate).
type swapWriter struct {
	mu sync.Mutex
	w  *os.File
}

func (s *swapWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *swapWriter) swap(f *os.File) {
	s.mu.Lock()
	old := s.w
	s.w = f
	s.mu.Unlock()
	old.Close()
}
