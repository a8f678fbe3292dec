// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/pkg/mbox"
)

func (s *Server) cfgCtx() context.Context { return context.Background() }

// Select implements imapserver.Session (SELECT and EXAMINE).
func (s *Session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	name = canonName(name)
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	sm, err := s.srv.acquire(s.ctx(), s.folders, name)
	if err != nil {
		return nil, mailboxError(name, err)
	}
	v := &selected{sm: sm, readOnly: options.ReadOnly, recent: map[uint32]bool{}}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.syncLocked(s.ctx(), nil)
	if options.ReadOnly {
		sm.mb.Flush(s.ctx()) // Dovecot writes missing UIDs even read-only
		// EXAMINE shows \Recent without taking it.
		for _, u := range sm.mb.RecentUIDs() {
			if !sm.taken[u] {
				v.recent[u] = true
			}
		}
	} else {
		for _, u := range sm.takeRecentLocked() {
			v.recent[u] = true
		}
	}
	v.lastRecent = uint32(len(v.recent))
	v.tracker = sm.tracker.NewSession()
	sm.views = append(sm.views, v)
	sm.startWatch()
	s.sel = v
	data := &imap.SelectData{
		Flags:       mailboxFlags(sm.mb.Keywords()),
		NumMessages: uint32(len(sm.uids)),
		NumRecent:   uint32(len(v.recent)),
		UIDNext:     imap.UID(sm.mb.UIDNext()),
		UIDValidity: sm.mb.UIDValidity(),
	}
	if !options.ReadOnly {
		data.PermanentFlags = append(slices.Clone(data.Flags), imap.FlagWildcard)
	} else {
		data.PermanentFlags = []imap.Flag{}
	}
	data.FirstUnseenSeqNum = sm.mb.FirstUnseen()
	return data, nil
}

// Unselect implements imapserver.Session (also after CLOSE's expunge).
func (s *Session) Unselect() error {
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	return nil
}

// Status implements imapserver.Session.
func (s *Session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	name = canonName(name)
	sm, err := s.srv.acquire(s.ctx(), s.folders, name)
	if err != nil {
		return nil, mailboxError(name, err)
	}
	defer sm.release()
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.syncLocked(s.ctx(), nil)
	return statusData(name, sm, options), nil
}

func statusData(name string, sm *sharedMailbox, options *imap.StatusOptions) *imap.StatusData {
	msgs := sm.messagesLocked()
	d := &imap.StatusData{Mailbox: name}
	if options.NumMessages {
		n := uint32(len(msgs))
		d.NumMessages = &n
	}
	if options.UIDNext {
		d.UIDNext = imap.UID(sm.mb.UIDNext())
	}
	if options.UIDValidity {
		d.UIDValidity = sm.mb.UIDValidity()
	}
	var unseen, deleted, recent uint32
	var size int64
	for _, m := range msgs {
		if m.Flags&mbox.Seen == 0 {
			unseen++
		}
		if m.Flags&mbox.Deleted != 0 {
			deleted++
		}
		// \Recent belongs to one session: once a session of ours took
		// it, other sessions' STATUS no longer counts it (Dovecot moves
		// first_recent_uid past it).
		if m.Recent && !sm.taken[m.UID] {
			recent++
		}
		size += m.Size
	}
	if options.NumUnseen {
		d.NumUnseen = &unseen
	}
	if options.NumDeleted {
		d.NumDeleted = &deleted
	}
	if options.NumRecent {
		d.NumRecent = &recent
	}
	if options.Size {
		d.Size = &size
	}
	return d
}

// List implements imapserver.Session with LIST-EXTENDED selection and
// return options, LIST-STATUS and SPECIAL-USE from the namespace's
// mailbox settings.
func (s *Session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if allEmpty(patterns) && !options.SelectSubscribed {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: '/', Mailbox: ""})
	}
	infos, err := s.folders.List()
	if err != nil {
		return mailboxError("", err)
	}
	subs, _ := s.folders.Subscriptions()
	subscribed := map[string]bool{}
	for _, n := range subs {
		subscribed[canonName(n)] = true
	}
	special := map[string][]imap.MailboxAttr{}
	for _, mb := range s.srv.cfg.Mailboxes {
		for _, u := range mb.SpecialUse {
			special[canonName(mb.Name)] = append(special[canonName(mb.Name)], imap.MailboxAttr(u))
		}
	}
	exists := map[string]bool{}
	for _, in := range infos {
		exists[canonName(in.Name)] = true
	}
	var names []string
	infoOf := map[string]mbox.MailboxInfo{}
	for _, in := range infos {
		n := canonName(in.Name)
		names = append(names, n)
		infoOf[n] = in
	}
	if options.SelectSubscribed {
		// Subscribed names that no longer exist are listed \NonExistent.
		for _, n := range subs {
			n = canonName(n)
			if !exists[n] {
				names = append(names, n)
			}
		}
	}
	lsub := isLSUB(w)
	lsubParent := map[string]bool{}
	matches := func(n string) bool {
		for _, p := range patterns {
			if imapserver.MatchList(n, '/', ref, p) {
				return true
			}
		}
		return false
	}
	if lsub {
		// RFC 3501 §6.3.9: a parent of a subscribed mailbox that the
		// pattern does not reach (through %) is listed \Noselect when
		// it is not subscribed itself, existing or not, as Dovecot does.
		seen := map[string]bool{}
		for _, n := range names {
			seen[n] = true
		}
		for _, n := range subs {
			n = canonName(n)
			if matches(n) {
				continue
			}
			for p := parentName(n); p != ""; p = parentName(p) {
				if !subscribed[p] && matches(p) {
					lsubParent[p] = true
					if !seen[p] {
						seen[p] = true
						names = append(names, p)
					}
				}
			}
		}
	}
	// With LIST-EXTENDED options (or more than one pattern, which is
	// the extended syntax too) Dovecot adds child information only
	// when RETURN (CHILDREN) asks for it (RFC 5258 §4).
	extended := options.SelectSubscribed && !lsub || options.SelectSpecialUse || options.SelectRecursiveMatch ||
		options.ReturnSubscribed || options.ReturnChildren || options.ReturnStatus != nil || options.ReturnSpecialUse ||
		len(patterns) > 1
	children := !extended || options.ReturnChildren
	for _, n := range names {
		if !matches(n) {
			continue
		}
		var childInfo *imap.ListDataChildInfo
		if options.SelectRecursiveMatch && hasSubscribedChild(n, subscribed, matches) {
			// RFC 5258 §3.5: a parent of a subscribed mailbox the
			// patterns do not return themselves.
			childInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		if options.SelectSubscribed && !subscribed[n] && childInfo == nil && !lsubParent[n] {
			continue
		}
		if options.SelectSpecialUse && len(special[n]) == 0 {
			continue
		}
		in, ok := infoOf[n]
		d := &imap.ListData{Delim: '/', Mailbox: n}
		if lsub {
			// LSUB shows \Noselect (for a parent that is not
			// subscribed) and special-use only.
			if !subscribed[n] {
				d.Attrs = append(d.Attrs, imap.MailboxAttrNoSelect)
			}
			d.Attrs = append(d.Attrs, special[n]...)
			if err := w.WriteList(d); err != nil {
				return err
			}
			continue
		}
		if (options.ReturnSubscribed || options.SelectSubscribed) && subscribed[n] {
			d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
		}
		switch {
		case !ok:
			d.Attrs = append(d.Attrs, imap.MailboxAttrNonExistent)
			if children && hasChild(n, exists) {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasChildren)
			} else if children {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
			}
		case in.NoSelect:
			d.Attrs = append(d.Attrs, imap.MailboxAttrNoSelect)
			if children && in.HasChildren {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasChildren)
			} else if children {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
			}
		case n == "INBOX":
			if children {
				d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
			}
		case in.NoInferiors:
			// An mbox file cannot have children: Dovecot says
			// \NoInferiors (lifecycle/04-create-copy), in its spelling.
			d.Attrs = append(d.Attrs, imap.MailboxAttr(`\NoInferiors`))
		}
		d.Attrs = append(d.Attrs, special[n]...)
		d.ChildInfo = childInfo
		if options.ReturnStatus != nil && ok && !in.NoSelect {
			if sm, err := s.srv.acquire(s.ctx(), s.folders, n); err == nil {
				sm.mu.Lock()
				d.Status = statusData(n, sm, options.ReturnStatus)
				sm.mu.Unlock()
				sm.release()
			}
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

// hasSubscribedChild tells whether n has a subscribed descendant that
// no pattern matches (one that is listed itself gives its parent no
// CHILDINFO in Dovecot).
func hasSubscribedChild(n string, subscribed map[string]bool, matches func(string) bool) bool {
	for s := range subscribed {
		if strings.HasPrefix(s, n+"/") && !matches(s) {
			return true
		}
	}
	return false
}

// hasChild tells whether a mailbox under n exists.
func hasChild(n string, exists map[string]bool) bool {
	for e := range exists {
		if strings.HasPrefix(e, n+"/") {
			return true
		}
	}
	return false
}

// parentName returns the name of n's parent, or "" at the top.
func parentName(n string) string {
	i := strings.LastIndexByte(n, '/')
	if i <= 0 {
		return ""
	}
	return n[:i]
}

// isLSUB tells LSUB from LIST (SUBSCRIBED), which reach List with the same
// options; go-imap v2.0.0-beta.8 (the pinned version) marks its writer.
func isLSUB(w *imapserver.ListWriter) bool {
	f := reflect.ValueOf(w).Elem().FieldByName("lsub")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

func allEmpty(patterns []string) bool {
	for _, p := range patterns {
		if p != "" {
			return false
		}
	}
	return true
}

// Append implements imapserver.Session: the message is on disk (fsynced)
// before the OK.
func (s *Session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	name = canonName(name)
	sm, err := s.srv.acquire(s.ctx(), s.folders, name)
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") || err == mbox.ErrNoMailbox {
			return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "Mailbox doesn't exist: " + name}
		}
		return nil, mailboxError(name, err)
	}
	defer sm.release()
	flags, kw := fromIMAPFlags(options.Flags)
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.syncLocked(s.ctx(), nil)
	uid, err := sm.mb.Append(s.ctx(), io.Reader(r), mbox.AppendOptions{Flags: flags, Keywords: kw, Date: options.Time, Sender: s.user.Name})
	if err != nil {
		return nil, mailboxError(name, err)
	}
	sm.addedLocked()
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: sm.mb.UIDValidity()}, nil
}

// addedLocked tells the tracker about messages this process appended.
func (sm *sharedMailbox) addedLocked() {
	// Not just the appended messages: the append's write lock may have
	// taken in other writers' changes (expunges too), which Sync reports.
	sm.syncLocked(context.Background(), nil)
}
