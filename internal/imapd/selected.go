// SPDX-License-Identifier: MIT

package imapd

import (
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/pkg/mbox"
)

// selected is a session's view of its selected mailbox.
type selected struct {
	sm       *sharedMailbox
	tracker  *imapserver.SessionTracker
	readOnly bool

	mu          sync.Mutex
	recent      map[uint32]bool
	recentDirty bool
	lastRecent  uint32
	searchRes   []uint32 // UIDs saved by SEARCH RETURN (SAVE)

	hdrs *mbox.HeaderReader // during a FETCH with ENVELOPE (under sm.mu)
}

func (v *selected) addRecent(uids []uint32) {
	v.mu.Lock()
	for _, u := range uids {
		v.recent[u] = true
	}
	v.recentDirty = true
	v.mu.Unlock()
}

func (v *selected) isRecent(uid uint32) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.recent[uid]
}

func (v *selected) close() {
	sm := v.sm
	sm.mu.Lock()
	if i := slices.Index(sm.views, v); i >= 0 {
		sm.views = slices.Delete(sm.views, i, i+1)
	}
	v.tracker.Close()
	sm.mu.Unlock()
	sm.release()
}

func (v *selected) poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	v.sm.mu.Lock()
	v.sm.syncLocked(v.sm.srv.cfgCtx(), v)
	v.sm.mu.Unlock()
	if err := v.tracker.Poll(w, allowExpunge); err != nil {
		return err
	}
	return v.writeRecent(w)
}

func (v *selected) writeRecent(w *imapserver.UpdateWriter) error {
	v.mu.Lock()
	dirty := v.recentDirty
	n := uint32(len(v.recent))
	v.recentDirty = false
	// Dovecot sends RECENT only when the count differs from the one
	// the client last heard (a MOVE into the selected mailbox that
	// expunges as many \Recent messages as it adds sends none).
	changed := n != v.lastRecent
	v.lastRecent = n
	v.mu.Unlock()
	if !dirty || !changed {
		return nil
	}
	return w.WriteNumRecent(n)
}

// idle runs the tracker's IDLE and, every notify interval, pauses it to
// send Dovecot's "* OK Still here" (imap_idle_notify_interval), written
// directly while nothing else writes to the connection.
func (v *selected) idle(w *imapserver.UpdateWriter, stop <-chan struct{}, notify time.Duration, keepalive func() error) error {
	var tick <-chan time.Time
	if notify > 0 && keepalive != nil {
		t := time.NewTicker(notify)
		defer t.Stop()
		tick = t.C
	}
	for {
		done := make(chan error, 1)
		inner := make(chan struct{})
		go func() { done <- v.tracker.Idle(w, inner) }()
		var err error
		stopped := false
		select {
		case <-stop:
			stopped = true
		case <-tick:
		}
		close(inner)
		if err = <-done; err != nil {
			return err
		}
		if stopped {
			break
		}
		if err := keepalive(); err != nil {
			return err
		}
	}
	// Dovecot sends the RECENT count when IDLE ends (anchor §6).
	return v.writeRecent(w)
}

// imapFlags lists a message's flags as IMAP shows them.
func imapFlags(m mbox.Message, recent bool) []imap.Flag {
	fl := make([]imap.Flag, 0, 6+len(m.Keywords))
	if m.Flags&mbox.Answered != 0 {
		fl = append(fl, imap.FlagAnswered)
	}
	if m.Flags&mbox.Flagged != 0 {
		fl = append(fl, imap.FlagFlagged)
	}
	if m.Flags&mbox.Deleted != 0 {
		fl = append(fl, imap.FlagDeleted)
	}
	if m.Flags&mbox.Seen != 0 {
		fl = append(fl, imap.FlagSeen)
	}
	if m.Flags&mbox.Draft != 0 {
		fl = append(fl, imap.FlagDraft)
	}
	// Dovecot's order: system flags, \Recent, keywords.
	if recent {
		fl = append(fl, imap.Flag("\\Recent"))
	}
	for _, k := range m.Keywords {
		fl = append(fl, imap.Flag(k))
	}
	return fl
}

// fromIMAPFlags splits IMAP flags into system flags and keywords.
func fromIMAPFlags(in []imap.Flag) (mbox.Flag, []string) {
	var f mbox.Flag
	var kw []string
	for _, fl := range in {
		switch imap.Flag(canonFlag(fl)) {
		case imap.FlagSeen:
			f |= mbox.Seen
		case imap.FlagAnswered:
			f |= mbox.Answered
		case imap.FlagFlagged:
			f |= mbox.Flagged
		case imap.FlagDraft:
			f |= mbox.Draft
		case imap.FlagDeleted:
			f |= mbox.Deleted
		case "\\Recent":
		default:
			if !slices.Contains(kw, string(fl)) {
				kw = append(kw, string(fl))
			}
		}
	}
	return f, kw
}

func canonFlag(f imap.Flag) string {
	for _, c := range []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDraft, imap.FlagDeleted, "\\Recent"} {
		if equalFold(string(f), string(c)) {
			return string(c)
		}
	}
	return string(f)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 32
		}
		if 'A' <= y && y <= 'Z' {
			y += 32
		}
		if x != y {
			return false
		}
	}
	return true
}
