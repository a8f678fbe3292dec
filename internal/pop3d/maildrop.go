// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"mailsuite/pkg/mbox"
)

// maildrop is the POP3 transaction state over an open INBOX: the message
// list fixed at login (RFC 1939 §5: numbers do not change during the
// session), the DELE and RETR marks, and the UPDATE step at QUIT.
type maildrop struct {
	mb          *mbox.Mailbox // read-only view for the session
	folders     *mbox.Folders
	lockFile    *os.File // a descriptor of its own for the read locks
	lockOpts    mbox.LockOptions
	msgs        []mbox.Message
	uidls       []string
	total       int64
	deleted     []bool
	delCount    int
	delSize     int64
	seen        []bool // RETRed messages that were not \Seen; nil with pop3_no_flag_updates
	seenCount   int
	deleteFlag  string // pop3_deleted_flag with pop3_delete_type = flag
	hideFlag    string // pop3_deleted_flag: messages with it are not listed
	noFlagTrack bool
}

// dropOptions are the pop3_* settings the maildrop honours.
type dropOptions struct {
	uidl          uidlFormat
	noFlagUpdates bool
	deleteFlag    string // keyword DELE adds instead of expunging
	hideFlag      string
}

// openMaildrop reads the mailbox state through a read-only view, so
// that a session that ends without QUIT cannot write anything; QUIT opens
// the file for writing only when there is something to write. Dovecot
// writes X-IMAPbase and X-UID headers when it opens an mbox that has none,
// even before any command; so does openMaildrop, so that the UIDVALIDITY
// in the UIDLs it gives out is the file's. Messages delivered after that
// get UIDs from uidlast in X-IMAPbase, which any later reader assigns the
// same way, so the file is left alone then, as Dovecot leaves it.
func openMaildrop(ctx context.Context, f *mbox.Folders, o dropOptions) (*maildrop, error) {
	path, err := f.Path("INBOX")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil || !hasIMAPBase(path) {
		rw, err := f.Open(ctx, "INBOX")
		if err != nil {
			return nil, err
		}
		if !rw.ReadOnly() && rw.Len() > 0 {
			err = rw.Flush(ctx)
		}
		if cerr := rw.Close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	ro := *f
	ro.Opts.ReadOnly = true
	mb, err := ro.Open(ctx, "INBOX")
	if err != nil {
		return nil, err
	}
	d := &maildrop{mb: mb, folders: f, lockOpts: f.Opts.Lock, deleteFlag: o.deleteFlag, hideFlag: o.hideFlag, noFlagTrack: o.noFlagUpdates}
	uv := mb.UIDValidity()
	for _, m := range mb.Messages() {
		if o.hideFlag != "" && slices.Contains(m.Keywords, o.hideFlag) {
			continue
		}
		d.msgs = append(d.msgs, m)
		d.uidls = append(d.uidls, o.uidl.format(m.UID, uv))
		d.total += m.Size
	}
	d.deleted = make([]bool, len(d.msgs))
	if !o.noFlagUpdates && len(d.msgs) > 0 {
		d.seen = make([]bool, len(d.msgs))
	}
	return d, nil
}

// errExpunged reports a message another session removed meanwhile.
var errExpunged = errors.New("message expunged")

// withMessage calls fn with message i (0-based) as stored, private
// headers left out, while holding a read lock on the file, so that
// another process's expunge, which rewrites the file in place under the
// write lock, cannot move the bytes while they are sent (Dovecot's pop3
// keeps its mbox read-locked while it works). Changes made since the last
// look are picked up first; a message that is gone gives errExpunged.
func (d *maildrop) withMessage(ctx context.Context, i int, fn func(io.Reader) error) error {
	if d.lockFile == nil {
		f, err := os.Open(d.mb.Path())
		if err != nil {
			return err
		}
		d.lockFile = f
	}
	lk, err := mbox.LockFile(ctx, d.lockFile, d.mb.Path(), false, d.lockOpts)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if _, err := d.mb.Sync(ctx); err != nil {
		return err
	}
	r, err := d.mb.Reader(d.msgs[i].UID)
	if err != nil {
		if _, ok := d.mb.Message(d.msgs[i].UID); !ok {
			return errExpunged
		}
		return err
	}
	return fn(r)
}

// markSeen records that message i was retrieved in full (RETR), so that
// QUIT sets \Seen, as Dovecot's pop3 does unless pop3_no_flag_updates.
func (d *maildrop) markSeen(i int) {
	if d.seen == nil || d.msgs[i].Flags&mbox.Seen != 0 || d.seen[i] {
		return
	}
	d.seen[i] = true
	d.seenCount++
}

func (d *maildrop) dele(i int) {
	d.deleted[i] = true
	d.delCount++
	d.delSize += d.msgs[i].Size
}

// rset forgets the DELE and RETR marks.
func (d *maildrop) rset() {
	clear(d.deleted)
	d.delCount, d.delSize = 0, 0
	if d.seenCount > 0 {
		clear(d.seen)
		d.seenCount = 0
	}
}

// update is RFC 1939's UPDATE state: \Seen for retrieved messages, then
// the deletions (an expunge under the write lock, or a keyword with
// pop3_delete_type = flag), then the mailbox is closed. Messages that an
// IMAP client flagged \Deleted but that were not DELEted here stay, as
// Dovecot expunges only the messages POP3 marked.
func (d *maildrop) update(ctx context.Context) error {
	d.closeLockFile()
	if err := d.mb.Close(ctx); err != nil || (d.delCount == 0 && d.seenCount == 0) {
		return err
	}
	mb, err := d.folders.Open(ctx, "INBOX")
	if err != nil {
		return err
	}
	if mb.ReadOnly() {
		// Dovecot silently ignores the changes on a read-only mailbox.
		return mb.Close(ctx)
	}
	mb.TakeRecent()
	var held []mbox.Message // \Deleted by someone else, to be kept
	if d.delCount > 0 && d.deleteFlag == "" {
		for _, m := range mb.Messages() {
			if m.Flags&mbox.Deleted != 0 {
				held = append(held, m)
				if err := mb.SetFlags(m.UID, m.Flags&^mbox.Deleted, m.Keywords); err != nil {
					mb.Close(ctx)
					return err
				}
			}
		}
	}
	for i, m := range d.msgs {
		cur, ok := mb.Message(m.UID)
		if !ok {
			continue // expunged meanwhile
		}
		flags, kw := cur.Flags, cur.Keywords
		switch {
		case d.deleted[i] && d.deleteFlag != "":
			if !slices.Contains(kw, d.deleteFlag) {
				kw = append(slices.Clone(kw), d.deleteFlag)
			}
		case d.deleted[i]:
			flags |= mbox.Deleted
		case d.seen != nil && d.seen[i]:
			flags |= mbox.Seen
		default:
			continue
		}
		if err := mb.SetFlags(m.UID, flags, kw); err != nil {
			mb.Close(ctx)
			return err
		}
	}
	if d.delCount > 0 && d.deleteFlag == "" {
		_, err = mb.Expunge(ctx)
		if err == nil {
			// Never answer "messages deleted" for a message still there:
			// the client would forget it and download it again.
			for i, m := range d.msgs {
				if _, ok := mb.Message(m.UID); ok && d.deleted[i] {
					err = fmt.Errorf("expunge: message with uid %d is still in %s", m.UID, mb.Path())
					break
				}
			}
		}
		for _, m := range held {
			if _, ok := mb.Message(m.UID); ok {
				if serr := mb.SetFlags(m.UID, m.Flags, m.Keywords); serr != nil && err == nil {
					err = serr
				}
			}
		}
	}
	if cerr := mb.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// abort closes the mailbox without applying any mark: a connection that
// ends without QUIT never reaches the UPDATE state (RFC 1939 §6).
func (d *maildrop) abort(ctx context.Context) error {
	d.closeLockFile()
	return d.mb.Close(ctx)
}

func (d *maildrop) closeLockFile() {
	if d.lockFile != nil {
		d.lockFile.Close()
		d.lockFile = nil
	}
}

// storageReply turns a storage error into Dovecot's reply.
func storageReply(err error) string {
	switch {
	case errors.Is(err, mbox.ErrLockTimeout):
		return fmt.Sprintf(replyStorageTemp, "Timeout while waiting for lock")
	case errors.Is(err, mbox.ErrNotMbox):
		return fmt.Sprintf(replyStoragePerm, "Mailbox isn't a valid mbox file")
	}
	return replyInternal
}

// hasIMAPBase tells whether the first message of the mbox at path carries
// Dovecot's X-IMAPbase (or UW-IMAP's pseudo message X-IMAP) header, which
// holds the UIDVALIDITY.
func hasIMAPBase(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.LimitReader(f, 1<<20), 8192)
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) == 0 && err != nil {
			return false
		}
		switch {
		case first:
			first = false // the From_ line
		case len(line) <= 2 && (line[0] == '\n' || line[0] == '\r'):
			return false // end of the first header
		case bytes.HasPrefix(line, []byte("X-IMAPbase: ")), bytes.HasPrefix(line, []byte("X-IMAP: ")):
			return true
		}
		if err != nil && err != bufio.ErrBufferFull {
			return false
		}
	}
}
