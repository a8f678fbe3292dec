// SPDX-License-Identifier: MIT

package pop3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"mailsuite/pkg/mbox"
)

// maildrop is the POP3 transaction state over an open INBOX: the message
// list fixed at login (RFC 1939 §5: numbers do not change during the
// session), the DELE and RETR marks, and the UPDATE step at QUIT.
type maildrop struct {
	mb          *mbox.Mailbox
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

// openMaildrop reads the mailbox state. Like Dovecot, which assigns and
// writes missing UIDs when it opens an mbox even before any command, it
// flushes new UIDs at once, so the UIDLs given out stay those of the file.
func openMaildrop(ctx context.Context, mb *mbox.Mailbox, o dropOptions) (*maildrop, error) {
	d := &maildrop{mb: mb, deleteFlag: o.deleteFlag, hideFlag: o.hideFlag, noFlagTrack: o.noFlagUpdates}
	if !mb.ReadOnly() {
		if err := mb.Flush(ctx); err != nil {
			return nil, err
		}
	}
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

// reader returns message i (0-based) as stored, private headers left out.
func (d *maildrop) reader(i int) (io.Reader, error) {
	return d.mb.Reader(d.msgs[i].UID)
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
	if d.delCount == 0 && d.seenCount == 0 {
		return d.mb.Close(ctx)
	}
	if d.mb.ReadOnly() {
		// Dovecot silently ignores the changes on a read-only mailbox.
		return d.mb.Close(ctx)
	}
	d.mb.TakeRecent()
	// Take the flags as they are now: another session may have changed
	// them since login.
	if _, err := d.mb.Sync(ctx); err != nil {
		d.mb.Close(ctx)
		return err
	}
	var held []mbox.Message // \Deleted by someone else, to be kept
	if d.delCount > 0 && d.deleteFlag == "" {
		for _, m := range d.mb.Messages() {
			if m.Flags&mbox.Deleted != 0 {
				held = append(held, m)
				if err := d.mb.SetFlags(m.UID, m.Flags&^mbox.Deleted, m.Keywords); err != nil {
					d.mb.Close(ctx)
					return err
				}
			}
		}
	}
	for i, m := range d.msgs {
		cur, ok := d.mb.Message(m.UID)
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
		if err := d.mb.SetFlags(m.UID, flags, kw); err != nil {
			d.mb.Close(ctx)
			return err
		}
	}
	var err error
	if d.delCount > 0 && d.deleteFlag == "" {
		_, err = d.mb.Expunge(ctx)
		for _, m := range held {
			if _, ok := d.mb.Message(m.UID); ok {
				if serr := d.mb.SetFlags(m.UID, m.Flags, m.Keywords); serr != nil && err == nil {
					err = serr
				}
			}
		}
	}
	if cerr := d.mb.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// abort closes the mailbox without applying any mark: a connection that
// ends without QUIT never reaches the UPDATE state (RFC 1939 §6).
func (d *maildrop) abort(ctx context.Context) error {
	return d.mb.Close(ctx)
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
