// SPDX-License-Identifier: MIT

// Package maillog writes the log lines admins and fail2ban read, in the
// exact formats of Sendmail 8.17 and Dovecot 2.3: one typed function per
// event, so every line of a kind has one shape.
//
// Lines go to syslog (the /dev/log datagram socket, facility mail, as
// syslog(3) sends them), or to a file in rsyslog's file format
// ("Mmm dd hh:mm:ss HOST tag[pid]: msg", what /var/log/maillog holds), or
// to any writer. The package keeps no global state.
package maillog

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Priority is a syslog facility|severity value.
type Priority int

// The priorities the real daemons use: facility mail (2) with severity
// info (6) for ordinary events and notice (5) for rejections.
const (
	MailInfo   Priority = 2<<3 | 6 // <22>
	MailNotice Priority = 2<<3 | 5 // <21>
	MailErr    Priority = 2<<3 | 3 // <19>
	MailWarn   Priority = 2<<3 | 4 // <20>
)

// Logger writes syslog lines under one ident.
type Logger struct {
	mu     sync.Mutex
	ident  string
	pid    int // 0: no "[pid]" in the tag
	host   string
	now    func() time.Time
	out    io.Writer
	file   string // path for Reopen, when logging to a file
	syslog bool   // out is a /dev/log socket: no host in the line
	closer io.Closer
}

// Options tune a Logger. The zero value is usable.
type Options struct {
	// Ident is the syslog tag ("sendmail", "dovecot").
	Ident string
	// PID is the number in brackets after the tag; 0 means os.Getpid().
	PID int
	// NoPID leaves the "[pid]" out of the tag, as Dovecot's lines have
	// it (Dovecot opens syslog without LOG_PID).
	NoPID bool
	// Host is written in file lines; "" means the short host name.
	Host string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o Options) fill() Options {
	if o.NoPID {
		o.PID = 0
	} else if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Host == "" {
		h, _ := os.Hostname()
		for i := 0; i < len(h); i++ {
			if h[i] == '.' {
				h = h[:i]
				break
			}
		}
		o.Host = h
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Open returns a Logger for dest: "syslog" (or "") sends to /dev/log and
// falls back to stderr when there is no syslog socket; "-" or "stderr"
// writes file-format lines to stderr; anything else is a file path
// opened for appending (mode 0640).
func Open(dest string, opts Options) (*Logger, error) {
	opts = opts.fill()
	l := &Logger{ident: opts.Ident, pid: opts.PID, host: opts.Host, now: opts.Now}
	switch dest {
	case "", "syslog":
		c, err := net.Dial("unixgram", "/dev/log")
		if err != nil {
			l.out = os.Stderr
			return l, nil
		}
		l.out, l.closer, l.syslog = c, c, true
	case "-", "stderr":
		l.out = os.Stderr
	default:
		l.file = dest
		if err := l.Reopen(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// New returns a Logger writing file-format lines to w.
func New(w io.Writer, opts Options) *Logger {
	opts = opts.fill()
	return &Logger{ident: opts.Ident, pid: opts.PID, host: opts.Host, now: opts.Now, out: w}
}

// Reopen reopens the log file (after rotation; the daemons call it on
// SIGHUP). It does nothing for syslog and stderr.
func (l *Logger) Reopen() error {
	if l.file == "" {
		return nil
	}
	f, err := os.OpenFile(l.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", l.file, err)
	}
	l.mu.Lock()
	old := l.closer
	l.out, l.closer = f, f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the destination.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

// WithIdent returns a Logger sharing l's destination under another tag.
func (l *Logger) WithIdent(ident string) *Logger {
	return &Logger{ident: ident, pid: l.pid, host: l.host, now: l.now, out: lockedWriter{l}, syslog: l.syslog}
}

// WithPID returns a Logger sharing l's destination with another pid in
// the tag, as lines of Sendmail's and Dovecot's child processes carry.
func (l *Logger) WithPID(pid int) *Logger {
	return &Logger{ident: l.ident, pid: pid, host: l.host, now: l.now, out: lockedWriter{l}, syslog: l.syslog}
}

type lockedWriter struct{ l *Logger }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.out.Write(p)
}

// Log writes one line with the given priority. msg must not contain a
// newline; one that does is cut there, as syslog would split it.
func (l *Logger) Log(pri Priority, msg string) {
	for i := 0; i < len(msg); i++ {
		if msg[i] == '\n' || msg[i] == '\r' {
			msg = msg[:i]
			break
		}
	}
	ts := l.now().Format(time.Stamp)
	tag := l.ident
	if l.pid != 0 {
		tag = fmt.Sprintf("%s[%d]", l.ident, l.pid)
	}
	var line string
	if l.syslog {
		line = fmt.Sprintf("<%d>%s %s: %s", pri, ts, tag, msg)
	} else {
		line = fmt.Sprintf("%s %s %s: %s\n", ts, l.host, tag, msg)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.out, line)
}

// Logf is Log with formatting.
func (l *Logger) Logf(pri Priority, format string, args ...any) {
	l.Log(pri, fmt.Sprintf(format, args...))
}
