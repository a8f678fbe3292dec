// SPDX-License-Identifier: MIT

package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Envelope is what a transaction hands to the queue.
type Envelope struct {
	// ID is the queue id assigned when the transaction started (at MAIL),
	// which the log lines of the transaction already carry.
	ID string
	// From is the envelope sender without brackets ("" for <>).
	From string
	// Rcpts are the accepted recipients.
	Rcpts []Rcpt
	// Client describes the SMTP client.
	ClientAddr, ClientName, Helo string
	// LocalUser is the invoking user of a "sendmail -bs" session (no
	// client address then): $_ is "<LocalUser>@localhost".
	LocalUser string
	// Proto is "SMTP" or "ESMTP" (with an "A" after AUTH, "S" after
	// STARTTLS, as sendmail's $r).
	Proto string
	// Daemon is the DaemonPortOptions Name of the listener.
	Daemon string
	// AuthUser is the authenticated identity, "" without AUTH.
	AuthUser string
	// BodyType is the BODY= parameter ("7BIT", "8BITMIME" or "").
	BodyType string
	// Size is the SIZE= parameter, 0 when not given.
	Size int64
	// Ret is the RET= parameter ("FULL", "HDRS" or "" when not given)
	// and EnvID the ENVID= parameter as the client sent it (xtext),
	// as sendmail keeps them in the qf file (F flags d and n, Z line).
	Ret   string
	EnvID string
	// Received is when the transaction started.
	Received time.Time
	// MsgID is the Message-Id sendmail adds to a message that has none
	// ("<YYYYMMDDhhmm.QID@$j>", from Received and ID), as the log line
	// already names it; the queue adds this header.
	MsgID string
	// Discard marks a message the access map said to DISCARD: it is
	// accepted and then dropped.
	Discard bool
}

// Rcpt is one accepted recipient.
type Rcpt struct {
	// Addr is the address as the client wrote it, without brackets.
	Addr string
	// Local is set when the recipient is delivered here; User is the
	// local user (or alias) name then. Otherwise User@Domain is the
	// resolved remote destination.
	Local  bool
	User   string
	Domain string
	// Notify and ORcpt are the DSN parameters.
	Notify string
	ORcpt  string
}

// Spool is the queue as the SMTP server sees it (internal/queue
// implements it): a queue id per transaction and a two-phase write.
type Spool interface {
	// NextID returns a new queue id.
	NextID() string
	// Begin starts writing the message of env.
	Begin(ctx context.Context, env *Envelope) (Txn, error)
}

// Txn receives one message's data (as the client sent it after
// dot-unstuffing, with CRLF line ends) and makes it durable on Commit.
// The server replies 250 only after Commit returned without error.
type Txn interface {
	io.Writer
	// Commit makes the message durable and returns its queue id.
	Commit() (qid string, err error)
	// Abort drops everything written.
	Abort() error
}

// SpaceReporter is implemented by spools that can tell the free space of
// their file system, which sendmail compares with the SIZE parameter.
type SpaceReporter interface {
	Available() (int64, error)
}

// Recipients tells local users (and aliases) from unknown ones
// (internal/aliases and the passwd database implement it).
type Recipients interface {
	// Exists reports whether user (lower case, no domain) can receive
	// mail here. An error is a temporary failure.
	Exists(ctx context.Context, user string) (bool, error)
}

// VirtualRecipients is a Recipients that also resolves whole addresses
// through a virtusertable (FEATURE(virtusertable)).
type VirtualRecipients interface {
	// CheckVirtual resolves local@domain through the table. handled
	// is false when no entry applies; refusal is then a whole reply
	// line ("550 5.1.1 <x@d>... User unknown") when the entry, or
	// what it resolves to, refuses the address. An error is a
	// temporary failure.
	CheckVirtual(ctx context.Context, local, domain string) (refusal string, handled bool, err error)
}

// RecipientSet is a fixed set of local names, for tests and as a
// fallback.
type RecipientSet map[string]bool

// Exists implements Recipients.
func (s RecipientSet) Exists(_ context.Context, user string) (bool, error) {
	return s[user], nil
}

// DirSpool is a minimal durable Spool: each committed message is written
// to a file in Dir (data fsynced, renamed into place, directory fsynced)
// and kept in memory for inspection. It stands in for internal/queue in
// tests and until the queue is wired in.
type DirSpool struct {
	Dir string
	// Keep holds every committed message in memory for Messages (tests);
	// without it only the files remain.
	Keep bool

	mu   sync.Mutex
	msgs []SpooledMessage
}

// SpooledMessage is a message DirSpool accepted.
type SpooledMessage struct {
	Env  Envelope
	Path string
	Data []byte
}

// idSeq numbers the ids of this process, across DirSpools (a SIGHUP
// makes a new one), so that no two messages share an id.
var idSeq atomic.Int64

// NextID implements Spool with ids in sendmail's 14-character form.
func (s *DirSpool) NextID() string {
	return queueID(time.Now(), os.Getpid(), int(idSeq.Add(1)%3600))
}

const qidChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"

// queueID makes an id like sendmail's: year, month, day, hour, minute,
// second in base-60 digits, a two-character sequence and the pid.
func queueID(t time.Time, pid, seq int) string {
	t = t.UTC()
	d := func(n int) byte { return qidChars[n%60] }
	return fmt.Sprintf("%c%c%c%c%c%c%c%c%06d", d((t.Year()-1900)%60), d(int(t.Month())-1), d(t.Day()), d(t.Hour()),
		d(t.Minute()), d(t.Second()), d(seq/60), d(seq), pid%1000000)
}

// Begin implements Spool.
func (s *DirSpool) Begin(_ context.Context, env *Envelope) (Txn, error) {
	f, err := os.CreateTemp(s.Dir, "tf"+env.ID+"-*")
	if err != nil {
		return nil, fmt.Errorf("create data file: %w", err)
	}
	return &dirTxn{s: s, f: f, env: *env}, nil
}

// Messages returns the messages committed so far (with Keep).
func (s *DirSpool) Messages() []SpooledMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SpooledMessage(nil), s.msgs...)
}

type dirTxn struct {
	s    *DirSpool
	f    *os.File
	env  Envelope
	n    int64
	done bool
}

func (t *dirTxn) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.n += int64(n)
	return n, err
}

func (t *dirTxn) Commit() (string, error) {
	if t.done {
		return "", errors.New("transaction already finished")
	}
	t.done = true
	if err := t.f.Sync(); err != nil {
		t.abort()
		return "", fmt.Errorf("sync %s: %w", t.f.Name(), err)
	}
	if err := t.f.Close(); err != nil {
		os.Remove(t.f.Name())
		return "", fmt.Errorf("close %s: %w", t.f.Name(), err)
	}
	final := filepath.Join(t.s.Dir, "df"+t.env.ID)
	if err := os.Rename(t.f.Name(), final); err != nil {
		os.Remove(t.f.Name())
		return "", fmt.Errorf("rename %s: %w", final, err)
	}
	if d, err := os.Open(t.s.Dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return "", fmt.Errorf("sync %s: %w", t.s.Dir, err)
		}
	}
	if !t.s.Keep {
		return t.env.ID, nil
	}
	data, err := os.ReadFile(final)
	if err != nil {
		return "", fmt.Errorf("read back %s: %w", final, err)
	}
	t.s.mu.Lock()
	t.s.msgs = append(t.s.msgs, SpooledMessage{Env: t.env, Path: final, Data: data})
	t.s.mu.Unlock()
	return t.env.ID, nil
}

func (t *dirTxn) abort() {
	t.f.Close()
	os.Remove(t.f.Name())
}

func (t *dirTxn) Abort() error {
	if t.done {
		return nil
	}
	t.done = true
	t.abort()
	return nil
}
