// SPDX-License-Identifier: MIT

package imapd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"golang.org/x/sys/unix"

	"mailsuite/pkg/mbox"
)

// sharedMailbox is one mbox file open in this process, shared by every
// session that has it selected (or is appending to it).
type sharedMailbox struct {
	srv  *Server
	key  string
	refs int // guarded by srv.mu

	mu       sync.Mutex
	mb       *mbox.Mailbox
	lockOpts mbox.LockOptions // the user's mbox_lock_* settings
	hdrBuf   []byte           // scratch for message headers (under mu)
	tracker  *imapserver.MailboxTracker
	uids     []uint32 // sequence order as the tracker knows it
	keywords []string
	views    []*selected     // sessions with it selected, in SELECT order
	taken    map[uint32]bool // \Recent UIDs already given to a session

	stop chan struct{}
	done chan struct{}
	// closed is set (guarded by srv.mu) once the last reference is gone
	// and closed when the file has been written back (and closed, or
	// left lingering).
	closed chan struct{}
	// linger is the timer (guarded by srv.mu) that closes a mailbox no
	// session has used for mailboxLinger; nil while in use.
	linger    *time.Timer
	lingerGen uint64 // which linger the timer belongs to
}

// mailboxLinger is how long a mailbox stays open after its last session
// left it, its changes written: a client that logs in again (or a STATUS,
// or the next APPEND) within it finds the message list in memory instead
// of reading the index, when the file did not change meanwhile.
var mailboxLinger = 10 * time.Second

// acquire opens (or shares) the mailbox name of folders.
func (s *Server) acquire(ctx context.Context, f *mbox.Folders, name string) (*sharedMailbox, error) {
	p, err := f.Path(name)
	if err != nil {
		return nil, err
	}
	key, err := filepath.Abs(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		sm := s.shared[key]
		if sm == nil {
			break
		}
		if sm.closed == nil && sm.linger != nil {
			// Lingering: reuse it if nobody wrote the file since;
			// otherwise an open through the index (and the new tail)
			// is cheaper than syncing this one.
			sm.linger.Stop()
			sm.linger = nil
			sm.mu.Lock()
			same := sm.mb.Unchanged()
			if !same {
				sm.mb.Close(context.Background())
			}
			sm.mu.Unlock()
			if !same {
				delete(s.shared, key)
				break
			}
		}
		if sm.closed == nil {
			sm.refs++
			return sm, nil
		}
		// The last user is still writing it back; reopen after that.
		closed := sm.closed
		s.mu.Unlock()
		<-closed
		s.mu.Lock()
	}
	mb, err := openRetry(ctx, f, name, p)
	if err != nil {
		return nil, err
	}
	sm := &sharedMailbox{srv: s, key: key, refs: 1, mb: mb, lockOpts: f.Opts.Lock}
	sm.reset()
	s.shared[key] = sm
	return sm, nil
}

// openRetry opens the mailbox name (at path p). Another process's rewrite
// (a POP3 session's expunge, pkg/mbox's journal recovery in another open)
// can make a file the open needs vanish for a moment; such a not-found
// error is retried, and only when the mailbox file itself is missing
// afterwards (for INBOX, which is created on open, never) is it reported
// as mbox.ErrNoMailbox. Any other not-found error loses its os.ErrNotExist
// identity, so that it is answered as a server error, not NONEXISTENT.
func openRetry(ctx context.Context, f *mbox.Folders, name, p string) (*mbox.Mailbox, error) {
	const tries = 5
	var err error
	for i := 0; i < tries; i++ {
		var mb *mbox.Mailbox
		mb, err = f.Open(ctx, name)
		if err == nil {
			return mb, nil
		}
		if errors.Is(err, mbox.ErrNoMailbox) || !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		t := time.NewTimer(time.Duration(i+1) * 10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
	if _, serr := os.Stat(p); errors.Is(serr, os.ErrNotExist) && name != "INBOX" {
		return nil, fmt.Errorf("open %s: %w", name, mbox.ErrNoMailbox)
	}
	return nil, fmt.Errorf("open %s: %v", name, err)
}

// reset rebuilds the tracker state from the mailbox (under sm.mu or
// before sharing).
func (sm *sharedMailbox) reset() {
	sm.uids = sm.mb.UIDs()
	sm.keywords = slices.Clone(sm.mb.Keywords())
	sm.tracker = imapserver.NewMailboxTracker(uint32(len(sm.uids)))
}

// messagesLocked is the mailbox's message list (under sm.mu).
func (sm *sharedMailbox) messagesLocked() []mbox.Message { return sm.mb.Messages() }

// messageLocked is one message by UID (under sm.mu).
func (sm *sharedMailbox) messageLocked(uid uint32) (mbox.Message, bool) { return sm.mb.Message(uid) }

// release drops one reference; the last one closes the file, writing
// pending changes.
func (sm *sharedMailbox) release() {
	s := sm.srv
	s.mu.Lock()
	sm.refs--
	last := sm.refs == 0
	if last {
		sm.closed = make(chan struct{})
	}
	s.mu.Unlock()
	if !last {
		return
	}
	if sm.stop != nil {
		close(sm.stop)
		<-sm.done
		sm.stop, sm.done = nil, nil
	}
	// Write pending changes now, as Dovecot does when the session
	// closes the mailbox; the file itself stays open for a while.
	sm.mu.Lock()
	err := sm.mb.Flush(context.Background())
	sm.mu.Unlock()
	s.mu.Lock()
	closed := sm.closed
	sm.closed = nil
	if err != nil || mailboxLinger <= 0 || s.closing {
		sm.mu.Lock()
		sm.mb.Close(context.Background())
		sm.mu.Unlock()
		delete(s.shared, sm.key)
	} else {
		sm.lingerGen++
		gen := sm.lingerGen
		sm.linger = time.AfterFunc(mailboxLinger, func() { sm.expire(gen) })
	}
	close(closed)
	closing := s.closing
	s.mu.Unlock()
	if closing {
		// The server is shutting down: the mailboxes left lingering
		// before are closed with the last sessions.
		s.closeLingering()
	}
}

// expire closes a lingering mailbox when the timer of its linger number
// gen fires, unless a session took it up again meanwhile.
func (sm *sharedMailbox) expire(gen uint64) {
	s := sm.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if sm.linger == nil || sm.lingerGen != gen || sm.refs > 0 || s.shared[sm.key] != sm {
		return
	}
	sm.linger = nil
	sm.mu.Lock()
	sm.mb.Close(context.Background())
	sm.mu.Unlock()
	delete(s.shared, sm.key)
}

// closeLingering closes every lingering mailbox (at server shutdown).
func (s *Server) closeLingering() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, sm := range s.shared {
		if sm.linger == nil || sm.refs > 0 {
			continue
		}
		sm.linger.Stop()
		sm.linger = nil
		sm.mu.Lock()
		sm.mb.Close(context.Background())
		sm.mu.Unlock()
		delete(s.shared, key)
	}
}

// startWatch starts the goroutine that notices other processes' changes:
// inotify on the file and its directory, with a periodic stat as fallback.
func (sm *sharedMailbox) startWatch() {
	if sm.stop != nil {
		return
	}
	sm.stop, sm.done = make(chan struct{}), make(chan struct{})
	go sm.watch()
}

func (sm *sharedMailbox) watch() {
	defer close(sm.done)
	events := make(chan struct{}, 1)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil && sm.srv.noInotify.Load() {
		unix.Close(fd)
		err = unix.ENOSYS
	}
	if err == nil {
		path := sm.mb.Path()
		unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_ATTRIB|unix.IN_CLOSE_WRITE|unix.IN_MOVE_SELF|unix.IN_DELETE_SELF)
		// The dotlock's removal marks the end of a locked write.
		unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_DELETE|unix.IN_MOVED_TO|unix.IN_CREATE)
		f := os.NewFile(uintptr(fd), "inotify")
		defer f.Close()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := f.Read(buf); err != nil {
					return
				}
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}()
	}
	tick := time.NewTicker(sm.srv.cfg.IdleCheck)
	defer tick.Stop()
	for {
		select {
		case <-sm.stop:
			return
		case <-events:
			// Let a burst of writes settle before taking the read lock.
			time.Sleep(20 * time.Millisecond)
		case <-tick.C:
		}
		sm.watchSync()
	}
}

// watchSync is one sync of the watcher. The watcher serves every session
// of the mailbox, so a bug met here is logged with its stack and the
// watcher carries on, rather than taking the whole daemon down.
func (sm *sharedMailbox) watchSync() {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			if l := sm.srv.cfg.ErrorLog; l != nil {
				l.Printf("imapd: mailbox watcher: panic: %v\n%s", r, debug.Stack())
			}
		}
	}()
	sm.syncLocked(context.Background(), nil)
}

// syncLocked picks up other processes' changes and queues them for every
// session. from is the session whose command triggered it (nil: the
// watcher).
func (sm *sharedMailbox) syncLocked(ctx context.Context, from *selected) {
	ch, err := sm.mb.Sync(ctx)
	if err != nil {
		return
	}
	sm.reconcileLocked(ch)
}

// reconcileLocked brings the sessions' UID list and the tracker in line
// with the Mailbox after ch (what Sync reported) or a change of ours
// (APPEND, COPY into it).
func (sm *sharedMailbox) reconcileLocked(ch mbox.Changes) {
	if len(ch.Expunged) == 0 && len(ch.New) == 0 && len(ch.Flags) == 0 && sm.mb.Len() == len(sm.uids) {
		return
	}
	if len(ch.Expunged) > 0 {
		sm.expungedLocked(ch.Expunged)
	}
	// Reconcile the sessions' UID list with the file rather than trust
	// the change lists alone: when another process rewrote the mailbox
	// under us, Sync can report new messages while UIDs we still list
	// are gone, and indexing the message list by our old length then
	// ran past its end (a panic that took the daemon down).
	uids := sm.mb.UIDs()
	present := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		present[u] = true
	}
	var gone []uint32
	for _, u := range sm.uids {
		if !present[u] {
			gone = append(gone, u)
		}
	}
	if len(gone) > 0 {
		sm.expungedLocked(gone)
	}
	sm.checkKeywordsLocked()
	var last uint32
	if n := len(sm.uids); n > 0 {
		last = sm.uids[n-1]
	}
	grew := false
	for _, u := range uids {
		if u > last {
			sm.uids = append(sm.uids, u)
			grew = true
		}
	}
	if grew {
		sm.tracker.QueueNumMessages(uint32(len(sm.uids)))
		sm.giveRecentLocked()
	}
	for _, u := range ch.Flags {
		if i, ok := slices.BinarySearch(sm.uids, u); ok {
			m, _ := sm.messageLocked(u)
			sm.tracker.QueueMessageFlags(uint32(i+1), imap.UID(u), imapFlags(m, false), nil)
		}
	}
}

// readLockLocked takes the mailbox file's read lock for a command that
// reads message bytes (FETCH of bodies or envelopes, SEARCH, COPY) and
// brings the view up to date under it (sm.mu held). Another writer —
// a POP3 session's expunge, real Dovecot, a rewrite after a header grew —
// moves messages in place under the write lock; without the read lock it
// could do so while the bytes are sent (a literal cut short, another
// message's text) and without the sync the offsets could be stale, as
// Dovecot's mbox code also reads only under its read lock. The lock is
// taken through a descriptor of its own, so that the view's own locking
// (Sync's read lock) does not release it. release ends it.
func (sm *sharedMailbox) readLockLocked(ctx context.Context, from *selected) (release func(), err error) {
	f, err := os.Open(sm.mb.Path())
	if err != nil {
		return nil, err
	}
	lk, err := mbox.LockFile(ctx, f, sm.mb.Path(), false, sm.lockOpts)
	if err != nil {
		f.Close()
		return nil, err
	}
	sm.syncLocked(ctx, from)
	return func() {
		lk.Unlock()
		f.Close()
	}, nil
}

// giveRecentLocked hands new \Recent messages to the first read-write
// session, as Dovecot gives them to the session that syncs first.
func (sm *sharedMailbox) giveRecentLocked() {
	for _, v := range sm.views {
		if !v.readOnly {
			if r := sm.takeRecentLocked(); len(r) > 0 {
				v.addRecent(r)
			}
			return
		}
	}
}

// takeRecentLocked returns the \Recent UIDs no session of this process
// has been given yet.
func (sm *sharedMailbox) takeRecentLocked() []uint32 {
	if sm.taken == nil {
		sm.taken = map[uint32]bool{}
	}
	// Only take when there is something to take: pkg/mbox rewrites the
	// Status headers at Close once a session took \Recent.
	any := false
	for _, u := range sm.mb.RecentUIDs() {
		if !sm.taken[u] {
			any = true
			break
		}
	}
	if !any {
		return nil
	}
	var out []uint32
	for _, u := range sm.mb.TakeRecent() {
		if !sm.taken[u] {
			sm.taken[u] = true
			out = append(out, u)
		}
	}
	return out
}

// checkKeywordsLocked announces a grown keyword list as FLAGS.
func (sm *sharedMailbox) checkKeywordsLocked() {
	kw := sm.mb.Keywords()
	if slices.Equal(kw, sm.keywords) {
		return
	}
	sm.keywords = slices.Clone(kw)
	sm.tracker.QueueMailboxFlags(mailboxFlags(kw))
}

// seqOf returns the 1-based sequence number of uid in the tracker's view.
func (sm *sharedMailbox) seqOf(uid uint32) uint32 {
	if i, ok := slices.BinarySearch(sm.uids, uid); ok {
		return uint32(i + 1)
	}
	return 0
}

func mailboxFlags(keywords []string) []imap.Flag {
	fl := []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}
	for _, k := range keywords {
		fl = append(fl, imap.Flag(k))
	}
	return fl
}
