// SPDX-License-Identifier: MIT

package imapd

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/pkg/mbox"
)

// Expunge implements imapserver.Session (EXPUNGE, UID EXPUNGE, CLOSE).
// EXPUNGE responses go out in descending sequence order, as Dovecot's do.
func (s *Session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	v := s.sel
	if v == nil {
		return errNoSel
	}
	if v.readOnly {
		return nil
	}
	sm := v.sm
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var keep map[uint32]mbox.Message
	if uids != nil {
		// Expunge only the named UIDs: clear \Deleted on the others
		// for the rewrite and put it back afterwards.
		keep = map[uint32]mbox.Message{}
		var maxUID uint32
		msgs := sm.messagesLocked()
		if len(msgs) > 0 {
			maxUID = msgs[len(msgs)-1].UID
		}
		for _, m := range msgs {
			if m.Flags&mbox.Deleted != 0 && !uidSetContains(*uids, m.UID, maxUID) {
				keep[m.UID] = m
				sm.mb.SetFlags(m.UID, m.Flags&^mbox.Deleted, m.Keywords)
			}
		}
	}
	gone, err := sm.mb.Expunge(s.ctx())
	for uid, m := range keep {
		sm.mb.SetFlags(uid, m.Flags, m.Keywords)
	}
	if err != nil {
		return mailboxError("", err)
	}
	s.stats.expunged += len(gone)
	sm.expungedLocked(gone)
	return nil
}

// expungedLocked removes UIDs from the tracker's view and tells the
// sessions, the acting one through w.
func (sm *sharedMailbox) expungedLocked(gone []uint32) {
	set := map[uint32]bool{}
	for _, u := range gone {
		set[u] = true
	}
	for i := len(sm.uids) - 1; i >= 0; i-- {
		u := sm.uids[i]
		if !set[u] {
			continue
		}
		seq := uint32(i + 1)
		sm.uids = slices.Delete(sm.uids, i, i+1)
		// Queued for every session, the acting one included: its
		// EXPUNGE responses go out in the poll after the command.
		sm.tracker.QueueExpunge(seq)
		// The RECENT count changes for the session holding it.
		for _, v := range sm.views {
			v.mu.Lock()
			if v.recent[u] {
				delete(v.recent, u)
				v.recentDirty = true
			}
			v.mu.Unlock()
		}
	}
}

// Copy implements imapserver.Session.
func (s *Session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	v := s.sel
	if v == nil {
		return nil, errNoSel
	}
	return s.copy(v, numSet, dest, nil)
}

// copy copies the messages of numSet into dest. When dest is the
// selected mailbox itself and sameMailbox is not nil, sameMailbox runs
// after the copies are written and before they are announced, with the
// mailbox still locked.
func (s *Session) copy(v *selected, numSet imap.NumSet, dest string, sameMailbox func(*imap.CopyData)) (*imap.CopyData, error) {
	dest = canonName(dest)
	sm := v.sm
	dm, err := s.srv.acquire(s.ctx(), s.folders, dest)
	if err != nil {
		if isNoMailbox(err) {
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "Mailbox doesn't exist: " + dest}
		}
		return nil, mailboxError(dest, err)
	}
	defer dm.release()
	// Two mailboxes are always locked in the order of their paths, so
	// COPY A->B and COPY B->A in two sessions cannot deadlock.
	first, second := sm, dm
	if dm.key < sm.key {
		first, second = dm, sm
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if second != first {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	if dm != sm {
		// (A copy into the same mailbox only appends, which needs the
		// write lock this read lock would block.)
		release, err := sm.readLockLocked(s.ctx(), v)
		if err != nil {
			return nil, mailboxError("", err)
		}
		defer release()
	}
	ts, err := v.resolveLocked(numSet)
	if err != nil {
		return nil, err
	}
	data := &imap.CopyData{UIDValidity: dm.mb.UIDValidity()}
	for _, t := range ts {
		r, err := sm.mb.Reader(t.msg.UID)
		if err != nil {
			return nil, mailboxError(dest, err)
		}
		// Copy the stored bytes (LF as stored), so sizes stay the same.
		uid, err := dm.mb.Append(s.ctx(), r, mbox.AppendOptions{Flags: t.msg.Flags, Keywords: t.msg.Keywords, Date: t.msg.InternalDate, Sender: t.msg.Sender})
		if err != nil {
			return nil, mailboxError(dest, err)
		}
		data.SourceUIDs.AddNum(imap.UID(t.msg.UID))
		data.DestUIDs.AddNum(imap.UID(uid))
	}
	if dm == sm && sameMailbox != nil {
		sameMailbox(data)
	}
	dm.addedLocked()
	return data, nil
}

func isNoMailbox(err error) bool {
	for e := err; e != nil; {
		if e == mbox.ErrNoMailbox {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// Move implements imapserver.SessionMove: copy, then expunge the sources.
func (s *Session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	v := s.sel
	if v == nil {
		return errNoSel
	}
	if v.readOnly {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Mailbox is read-only."}
	}
	var moveErr error
	same := false
	data, err := s.copy(v, numSet, dest, func(data *imap.CopyData) {
		same = true
		// Into the selected mailbox itself: expunge the sources before
		// the copies are announced, under the same lock, so the client
		// gets EXPUNGE and then EXISTS with the final count, as from
		// Dovecot (imaptest's move script). The copies' \Recent is
		// handed out first: the expunge's rewrite marks every message
		// the file holds as seen by a session.
		v.sm.giveRecentLocked()
		moveErr = s.expungeMovedLocked(v.sm, data)
	})
	if err != nil {
		return err
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	if same {
		return moveErr
	}
	sm := v.sm
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return s.expungeMovedLocked(sm, data)
}

// expungeMovedLocked expunges MOVE's source messages (sm.mu held),
// leaving other \Deleted messages alone.
func (s *Session) expungeMovedLocked(sm *sharedMailbox, data *imap.CopyData) error {
	moved := map[uint32]bool{}
	srcUIDs, _ := data.SourceUIDs.Nums()
	for _, u := range srcUIDs {
		moved[uint32(u)] = true
	}
	// Expunge only the moved messages.
	restore := map[uint32]mbox.Message{}
	for _, m := range sm.messagesLocked() {
		switch {
		case moved[m.UID]:
			sm.mb.SetFlags(m.UID, m.Flags|mbox.Deleted, m.Keywords)
		case m.Flags&mbox.Deleted != 0:
			restore[m.UID] = m
			sm.mb.SetFlags(m.UID, m.Flags&^mbox.Deleted, m.Keywords)
		}
	}
	gone, err := sm.mb.Expunge(s.ctx())
	for uid, m := range restore {
		sm.mb.SetFlags(uid, m.Flags, m.Keywords)
	}
	if err != nil {
		return mailboxError("", err)
	}
	sm.expungedLocked(gone)
	return nil
}
