// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Flag is a system flag as Dovecot stores it in Status and X-Status.
type Flag uint16

// The flags IMAP clients can set; Status carries \Seen (R), X-Status the
// others (A, F, T, D).
const (
	Seen Flag = 1 << iota
	Answered
	Flagged
	Draft
	Deleted

	// flagNonRecent is the 'O' of Status: the message was seen by a
	// session that took its \Recent.
	flagNonRecent
)

const clientFlags = Seen | Answered | Flagged | Draft | Deleted

// Message is what a client sees of one message.
type Message struct {
	Seq          uint32 // 1-based sequence number
	UID          uint32
	Flags        Flag
	Keywords     []string
	Recent       bool      // new since the last session took \Recent
	InternalDate time.Time // the From_ line's date
	Sender       string    // the From_ line's envelope sender
	Size         int64     // RFC822.SIZE: CRLF line ends, private headers left out
}

// Options configures Open. The zero value suits tests and tools.
type Options struct {
	// ReadOnly opens the file for reading only; Flush still writes
	// nothing then.
	ReadOnly bool
	// Create makes an empty mailbox file (mode 0600) when missing, as
	// Dovecot does for INBOX.
	Create bool
	// IndexPath is the index file kept for this mailbox (empty: none).
	// Folders uses <root>/.imap/<name>/mailsuite.mbox-index beside
	// Dovecot's own dovecot.index* files, which it never touches.
	IndexPath string
	// Now returns the current time (UIDVALIDITY of a new mailbox, the
	// pseudo message's date); nil means time.Now.
	Now func() time.Time
	// Location is the zone of From_ lines without a numeric offset and of
	// the From_ lines written; nil means time.Local (Dovecot uses the
	// server's local time).
	Location *time.Location
	// Hostname goes into written From_ lines, the pseudo message and the
	// dotlock; empty means os.Hostname.
	Hostname string
	// Lock tunes locking.
	Lock LockOptions
	// NewUIDValidity picks the UIDVALIDITY of a mailbox that has none yet;
	// nil means the current time (Folders shares Dovecot's allocator).
	NewUIDValidity func() uint32
}

// Mailbox is an open mbox file with the state Dovecot keeps for it.
// Methods are not safe for concurrent use.
type Mailbox struct {
	path string
	opts Options
	f    *os.File
	ro   bool

	uidValidity    uint32
	nextUID        uint32
	firstRecentUID uint32
	keywords       []string
	kwIndex        map[string]int

	pseudo *msg   // the folder-internal-data message, if any
	msgs   []*msg // visible messages in file order

	// baseRewrite is set when the first message's X-IMAPbase/X-IMAP must
	// be rewritten whole (keyword list changed, uid-last not 10 digits).
	baseRewrite bool
	// sessionRecent is set once a read-write session took \Recent
	// (TakeRecent): from then on every header written carries Status 'O',
	// as with Dovecot's MAILBOX_FLAG_DROP_RECENT.
	sessionRecent bool
	// recentHanded: TakeRecent has handed out every \Recent UID below it
	// (each goes to one caller only).
	recentHanded uint32

	st fileID
	// stSum is lastCRC() when st was taken (see setStat).
	stSum uint32

	// unreported are the changes by other writers that a write of ours
	// took in first (writeLock); the next Sync reports them.
	unreported Changes

	// indexStale: the index on disk lags behind (tail parsed at open);
	// Flush/Close rewrite it even when nothing else changed.
	indexStale bool
	// loaded tells how the last load got the state: "index",
	// "index+tail" or "parse" (for tests).
	loaded string

	slab  []msg   // allocation batch for parsed messages
	lines []hline // scratch for header parsing
}

type msg struct {
	uid                           uint32
	flags, hdrFlags               Flag
	kw, hdrKw                     []int
	fromOff, hdrOff, bodyOff, end int64
	haveEOH                       bool
	date                          int64
	sender                        string
	size                          int64
	bodyVis                       int64 // body size with CRLF line ends
	dirty                         bool  // header must be rewritten
	recent                        bool
	pseudo                        bool
	expunge                       bool
	// base* describe the X-IMAPbase (or X-IMAP) line of a first message.
	baseOK     bool
	baseLast   uint32
	baseLastAt int64 // file offset of the 10 uid-last digits, or -1
}

type fileID struct {
	size  int64
	mtime int64
	ino   uint64
	dev   uint64
}

// setStat records st as the file state the mailbox's view matches, with
// a checksum of the last message's From_ line and header: a change that
// leaves size and mtime as they were (an expunge and an append of the
// same length inside one tick of the kernel's coarse clock) still moves
// that message, and changed() sees it.
func (mb *Mailbox) setStat(st fileID) {
	mb.st = st
	mb.stSum = mb.lastCRC()
}

// changed reports whether the file is no longer the one st and the
// mailbox's view describe.
func (mb *Mailbox) changed(st fileID) bool {
	return st != mb.st || mb.lastCRC() != mb.stSum
}

func statFile(f *os.File) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, fmt.Errorf("fstat: %w", err)
	}
	return fileID{size: st.Size, mtime: st.Mtim.Nano(), ino: st.Ino, dev: uint64(st.Dev)}, nil
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) loc() *time.Location {
	if o.Location != nil {
		return o.Location
	}
	return time.Local
}

func (o *Options) hostname() string {
	if o.Hostname != "" {
		return o.Hostname
	}
	h, _ := os.Hostname()
	return h
}

// Open opens the mbox file at path and reads its state: from the index when
// it describes the file as it is, else by parsing the file under a read
// lock. Nothing is written until Flush, Close, Expunge or Append.
func Open(ctx context.Context, path string, opts Options) (*Mailbox, error) {
	if opts.Lock.Hostname == "" {
		opts.Lock.Hostname = opts.Hostname
	}
	mb := &Mailbox{path: path, opts: opts, ro: opts.ReadOnly, kwIndex: map[string]int{}}
	flag := os.O_RDWR
	if mb.ro {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if errors.Is(err, os.ErrNotExist) && opts.Create && !mb.ro {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil && !mb.ro && errors.Is(err, os.ErrPermission) {
		f, err = os.OpenFile(path, os.O_RDONLY, 0)
		mb.ro = true
	}
	if err != nil {
		return nil, fmt.Errorf("open mbox: %w", err)
	}
	mb.f = f
	if !mb.ro {
		if err := mb.recoverJournal(ctx); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := mb.load(ctx, nil); err != nil {
		f.Close()
		return nil, err
	}
	return mb, nil
}

// load reads the mailbox state under a read lock, from the index when it
// matches the file, else by parsing. old, when set, is the state before an
// external change, used to keep UIDs not yet written to the file.
func (mb *Mailbox) load(ctx context.Context, old []*msg) error {
	lk, err := LockFile(ctx, mb.f, mb.path, false, mb.opts.Lock)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	st, err := statFile(mb.f)
	if err != nil {
		return err
	}
	if old == nil {
		if ok, grown := mb.loadIndexGrown(st, true); ok {
			if !grown {
				mb.setStat(st)
				mb.loaded = "index"
				return nil
			}
			// Only appended to since: parse just the new tail, and bring
			// the index up to date so that the next open of the same file
			// (read-only ones included) is a pure index load.
			if err := mb.parseTail(st); err == nil {
				mb.setStat(st)
				mb.loaded = "index+tail"
				_ = mb.saveIndex()
				mb.indexStale = false
				return nil
			}
		}
	}
	// Like Dovecot's index, a stale index still tells the keyword list
	// and which UIDs a session has already taken as \Recent, as long as
	// UIDVALIDITY is the same.
	ih, haveIH := mb.indexHeader()
	if old != nil || !haveIH {
		ih = indexHead{}
	}
	if err := mb.parseSeeded(st, old, ih.keywords); err != nil {
		return err
	}
	if haveIH && old == nil && ih.uidValidity != mb.uidValidity && len(ih.keywords) > 0 {
		if err := mb.parse(st, nil); err != nil {
			return err
		}
	}
	mb.setStat(st)
	mb.loaded = "parse"
	if old == nil {
		if haveIH && ih.uidValidity == mb.uidValidity && ih.firstRecent > mb.firstRecentUID {
			mb.firstRecentUID = ih.firstRecent
			for _, m := range mb.msgs {
				m.recent = m.recent && m.uid >= ih.firstRecent
			}
		}
		// A failed index write only costs the next open a parse.
		_ = mb.saveIndex()
		mb.indexStale = false
	}
	return nil
}

// Path returns the mbox file's path.
func (mb *Mailbox) Path() string { return mb.path }

// ReadOnly reports whether the mailbox was opened (or fell back to) read-only.
func (mb *Mailbox) ReadOnly() bool { return mb.ro }

// UIDValidity returns the mailbox's UIDVALIDITY.
func (mb *Mailbox) UIDValidity() uint32 { return mb.uidValidity }

// UIDNext returns the UID the next new message will get.
func (mb *Mailbox) UIDNext() uint32 { return mb.nextUID }

// Keywords returns the mailbox's keyword list (X-IMAPbase order).
func (mb *Mailbox) Keywords() []string { return slices.Clone(mb.keywords) }

// Len returns the number of visible messages.
func (mb *Mailbox) Len() int { return len(mb.msgs) }

func (mb *Mailbox) message(i int) Message {
	m := mb.msgs[i]
	out := Message{
		Seq:          uint32(i + 1),
		UID:          m.uid,
		Flags:        m.flags & clientFlags,
		Recent:       m.recent,
		InternalDate: time.Unix(m.date, 0).In(mb.opts.loc()),
		Sender:       m.sender,
		Size:         m.size,
	}
	for _, k := range m.kw {
		out.Keywords = append(out.Keywords, mb.keywords[k])
	}
	return out
}

// Messages returns every visible message in sequence order.
func (mb *Mailbox) Messages() []Message {
	out := make([]Message, len(mb.msgs))
	for i := range mb.msgs {
		out[i] = mb.message(i)
	}
	return out
}

// UIDs returns the UIDs of the visible messages in sequence order.
func (mb *Mailbox) UIDs() []uint32 {
	out := make([]uint32, len(mb.msgs))
	for i, m := range mb.msgs {
		out[i] = m.uid
	}
	return out
}

// RecentUIDs returns the UIDs of the messages that are \Recent.
func (mb *Mailbox) RecentUIDs() []uint32 {
	var out []uint32
	for _, m := range mb.msgs {
		if m.recent {
			out = append(out, m.uid)
		}
	}
	return out
}

// FirstUnseen returns the sequence number of the first message without
// \Seen, or 0 when all are seen.
func (mb *Mailbox) FirstUnseen() uint32 {
	for i, m := range mb.msgs {
		if m.flags&Seen == 0 {
			return uint32(i + 1)
		}
	}
	return 0
}

// Message returns the message with the given UID.
func (mb *Mailbox) Message(uid uint32) (Message, bool) {
	i, ok := mb.find(uid)
	if !ok {
		return Message{}, false
	}
	return mb.message(i), true
}

func (mb *Mailbox) find(uid uint32) (int, bool) {
	return slices.BinarySearchFunc(mb.msgs, uid, func(m *msg, u uint32) int {
		switch {
		case m.uid < u:
			return -1
		case m.uid > u:
			return 1
		}
		return 0
	})
}

// TakeRecent is what a read-write SELECT does: it returns the UIDs that are
// \Recent and were not returned by an earlier call on this Mailbox (each
// \Recent UID goes to one caller), and records that this session took
// them, so later opens do not report them again; from then on headers
// written carry Status 'O' and Close writes it for every message, as
// Dovecot does.
func (mb *Mailbox) TakeRecent() []uint32 {
	var out []uint32
	for _, m := range mb.msgs {
		if m.recent && m.uid >= mb.recentHanded {
			out = append(out, m.uid)
		}
	}
	mb.recentHanded = mb.nextUID
	mb.sessionRecent = true
	if mb.firstRecentUID < mb.nextUID {
		mb.firstRecentUID = mb.nextUID
	}
	return out
}

// SetFlags replaces the flags and keywords of the message with the given
// UID. Unknown keywords are added to the mailbox's list. The change reaches
// the file at the next Flush, Expunge or Close (Dovecot's lazy writes).
func (mb *Mailbox) SetFlags(uid uint32, flags Flag, keywords []string) error {
	i, ok := mb.find(uid)
	if !ok {
		return fmt.Errorf("set flags: no message with uid %d", uid)
	}
	m := mb.msgs[i]
	kw := make([]int, 0, len(keywords))
	for _, k := range keywords {
		if !validKeyword(k) {
			return fmt.Errorf("set flags: invalid keyword %q", k)
		}
		idx := mb.keywordIndex(k)
		if !slices.Contains(kw, idx) {
			kw = append(kw, idx)
		}
	}
	slices.Sort(kw)
	m.flags = m.flags&^clientFlags | flags&clientFlags
	m.kw = kw
	return nil
}

func (mb *Mailbox) keywordIndex(k string) int {
	if i, ok := mb.kwIndex[k]; ok {
		return i
	}
	mb.keywords = append(mb.keywords, k)
	mb.kwIndex[k] = len(mb.keywords) - 1
	mb.baseRewrite = true
	return len(mb.keywords) - 1
}

// Changes lists what Sync found changed by other processes.
type Changes struct {
	Expunged []uint32 // UIDs that are gone
	New      []uint32 // UIDs that appeared
	Flags    []uint32 // UIDs whose flags or keywords changed
}

// Sync notices changes made to the file by other processes (deliveries,
// other IMAP servers) since the last look, keeping UIDs, and reports them,
// together with those taken in before a write of ours (Append, Expunge,
// Flush) and not reported yet.
func (mb *Mailbox) Sync(ctx context.Context) (Changes, error) {
	ch := mb.unreported
	mb.unreported = Changes{}
	st, err := statFile(mb.f)
	if err != nil {
		return ch, err
	}
	if !mb.changed(st) {
		return ch, nil
	}
	lk, err := LockFile(ctx, mb.f, mb.path, false, mb.opts.Lock)
	if err != nil {
		return ch, err
	}
	defer lk.Unlock()
	now, err := mb.syncLocked()
	return mergeChanges(ch, now), err
}

// Unchanged reports whether the mailbox's path still names the file
// that is open and nobody wrote it since the last look (Open, Sync, or a
// write through this Mailbox).
func (mb *Mailbox) Unchanged() bool {
	st, err := statFile(mb.f)
	if err != nil || mb.changed(st) {
		return false
	}
	var ps unix.Stat_t
	if err := unix.Stat(mb.path, &ps); err != nil {
		return false
	}
	return ps.Ino == st.ino && uint64(ps.Dev) == st.dev
}

// Close writes pending changes (marking taken \Recent messages 'O') and
// closes the file.
func (mb *Mailbox) Close(ctx context.Context) error {
	var err error
	if !mb.ro {
		err = mb.flush(ctx, mb.sessionRecent)
	} else if mb.indexStale && !mb.changedHere() {
		// A read-only session that synced other processes' changes
		// leaves an index of the file as it is now.
		_ = mb.saveIndex()
	}
	if e := mb.f.Close(); e != nil && err == nil {
		err = fmt.Errorf("close mbox: %w", e)
	}
	return err
}

// changedHere reports whether SetFlags changed flags or keywords that are
// not in the file yet (an index must not claim them).
func (mb *Mailbox) changedHere() bool {
	for _, m := range mb.ordered() {
		if m.flags&clientFlags != m.hdrFlags&clientFlags || !slices.Equal(m.kw, m.hdrKw) {
			return true
		}
	}
	return false
}

// Flush writes pending flag, keyword and UID changes to the file (CHECK).
func (mb *Mailbox) Flush(ctx context.Context) error {
	if mb.ro {
		return nil
	}
	return mb.flush(ctx, mb.sessionRecent)
}

// Reader returns the visible message with the given UID as stored (LF or
// CRLF line ends as in the file, private headers left out), streamed from
// the file.
func (mb *Mailbox) Reader(uid uint32) (io.Reader, error) {
	i, ok := mb.find(uid)
	if !ok {
		return nil, fmt.Errorf("read message: no message with uid %d", uid)
	}
	m := mb.msgs[i]
	hdr := make([]byte, m.bodyOff-m.hdrOff)
	if _, err := mb.f.ReadAt(hdr, m.hdrOff); err != nil && len(hdr) > 0 {
		return nil, fmt.Errorf("read message header: %w", err)
	}
	vis := visibleHeader(hdr)
	return io.MultiReader(bytesReader(vis), io.NewSectionReader(mb.f, m.bodyOff, m.end-m.bodyOff)), nil
}

// AppendHeader appends the header of the visible message with the given
// UID to dst, as stored (up to and including the blank line that ends it,
// private headers left out), and returns the extended slice. It reads the
// file once and allocates nothing when dst has room.
func (mb *Mailbox) AppendHeader(dst []byte, uid uint32) ([]byte, error) {
	return (&HeaderReader{mb: mb}).AppendHeader(dst, uid)
}

// A HeaderReader reads the headers of many messages (ENVELOPE or header
// fetches of a whole mailbox) with one read per window of the file
// instead of one per message. It holds file data, so it is good only
// until the mailbox changes (a write, Sync, Append): use one per command,
// under a lock that keeps other writers out.
type HeaderReader struct {
	mb  *Mailbox
	win []byte // file data from off
	off int64
}

// headerWindow is how much of the file a HeaderReader reads at once.
const headerWindow = 128 << 10

// HeaderReader returns a HeaderReader for the mailbox as it is now.
func (mb *Mailbox) HeaderReader() *HeaderReader { return &HeaderReader{mb: mb} }

// AppendHeader is Mailbox.AppendHeader through the reader's window.
func (hr *HeaderReader) AppendHeader(dst []byte, uid uint32) ([]byte, error) {
	mb := hr.mb
	i, ok := mb.find(uid)
	if !ok {
		return dst, fmt.Errorf("read message header: no message with uid %d", uid)
	}
	m := mb.msgs[i]
	n := int(m.bodyOff - m.hdrOff)
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	hdr := dst[start:]
	if err := hr.readAt(hdr, m.hdrOff); err != nil {
		return dst[:start], fmt.Errorf("read message header: %w", err)
	}
	mb.lines = splitHeaderInto(mb.lines, hdr)
	w, last := 0, 0
	for _, h := range mb.lines {
		if !h.kind.hidden() {
			w += copy(hdr[w:], hdr[h.start:h.end])
		}
		last = h.end
	}
	w += copy(hdr[w:], hdr[last:])
	return dst[:start+w], nil
}

// readAt fills p from the file at off, through the window when it fits.
func (hr *HeaderReader) readAt(p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	if hr.win != nil && off >= hr.off && off+int64(len(p)) <= hr.off+int64(len(hr.win)) {
		copy(p, hr.win[off-hr.off:])
		return nil
	}
	if len(p) > headerWindow/2 {
		_, err := hr.mb.f.ReadAt(p, off)
		return err
	}
	if cap(hr.win) < headerWindow {
		hr.win = make([]byte, headerWindow)
	}
	k, err := hr.mb.f.ReadAt(hr.win[:headerWindow], off)
	hr.win, hr.off = hr.win[:k], off
	if k < len(p) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	copy(p, hr.win)
	return nil
}

// visibleHeader drops Dovecot's private header fields.
func visibleHeader(hdr []byte) []byte {
	lines := splitHeader(hdr)
	out := make([]byte, 0, len(hdr))
	last := 0
	for _, h := range lines {
		if !h.kind.hidden() {
			out = append(out, hdr[h.start:h.end]...)
		}
		last = h.end
	}
	return append(out, hdr[last:]...)
}

// visibleHeaderSize is visibleSize(visibleHeader(hdr)) without the copy.
func visibleHeaderSize(hdr []byte, lines []hline) int64 {
	var n int64
	last := 0
	for _, h := range lines {
		if !h.kind.hidden() {
			n += visibleSize(hdr[h.start:h.end])
		}
		last = h.end
	}
	return n + visibleSize(hdr[last:])
}

// visibleSize is the visible header's size with bare LFs counted as CRLF.
func visibleSize(vis []byte) int64 {
	n := int64(len(vis))
	for i := 0; ; {
		j := bytes.IndexByte(vis[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if i == 0 || vis[i-1] != '\r' {
			n++
		}
		i++
	}
	return n
}

// POP3UIDL returns Dovecot's default POP3 UIDL (pop3_uidl_format =
// %08Xu%08Xv, printed in lower case): UID and UIDVALIDITY as 8 hex digits.
func POP3UIDL(uid, uidValidity uint32) string {
	return fmt.Sprintf("%08x%08x", uid, uidValidity)
}
