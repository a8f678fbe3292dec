// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// testHook, when set by tests, is called at named points of a rewrite; an
// error aborts the rewrite there (errSimulatedCrash also skips the
// rollback, as a killed process would).
var testHook func(point string) error

var errSimulatedCrash = errors.New("simulated crash")

func hook(point string) error {
	if testHook != nil {
		return testHook(point)
	}
	return nil
}

func (mb *Mailbox) dropRecentFlags(drop bool) {
	if !drop {
		return
	}
	for _, m := range mb.msgs {
		m.flags |= flagNonRecent
		m.recent = false
	}
}

// ordered returns the messages in file order, the pseudo message first.
func (mb *Mailbox) ordered() []*msg {
	if mb.pseudo == nil {
		return mb.msgs
	}
	return append([]*msg{mb.pseudo}, mb.msgs...)
}

func (mb *Mailbox) writeLock(ctx context.Context) (*Lock, error) {
	lk, err := LockFile(ctx, mb.f, mb.path, true, mb.opts.Lock)
	if err != nil {
		return nil, err
	}
	st, err := statFile(mb.f)
	if err != nil {
		lk.Unlock()
		return nil, err
	}
	if mb.changed(st) {
		// Someone else wrote since we looked: take their changes in first
		// (the read lock inside load is ours already through this fd).
		ch, err := mb.syncLocked()
		if err != nil {
			lk.Unlock()
			return nil, err
		}
		// The caller asked to write, not to sync: the next Sync reports
		// these changes, so that a server's sessions hear of them.
		mb.unreported = mergeChanges(mb.unreported, ch)
	}
	return lk, nil
}

// mergeChanges adds b, found after a, to a.
func mergeChanges(a, b Changes) Changes {
	add := func(dst, src []uint32) []uint32 {
		for _, u := range src {
			if !slices.Contains(dst, u) {
				dst = append(dst, u)
			}
		}
		return dst
	}
	a.Expunged = add(a.Expunged, b.Expunged)
	a.New = add(a.New, b.New)
	a.Flags = add(a.Flags, b.Flags)
	return a
}

// syncLocked re-reads a changed file while the caller holds a lock.
func (mb *Mailbox) syncLocked() (Changes, error) {
	var ch Changes
	old := mb.msgs
	byUID := map[uint32]*msg{}
	for _, m := range old {
		byUID[m.uid] = m
	}
	st, err := statFile(mb.f)
	if err != nil {
		return ch, err
	}
	if err := mb.parse(st, append(append([]*msg(nil), old...), mb.pseudo)); err != nil {
		return ch, err
	}
	mb.setStat(st)
	// The index describes the old file: Flush/Close refresh it.
	mb.indexStale = true
	seen := map[uint32]bool{}
	for _, m := range mb.msgs {
		seen[m.uid] = true
		o, ok := byUID[m.uid]
		if !ok {
			ch.New = append(ch.New, m.uid)
			continue
		}
		if o.hdrFlags&clientFlags == m.hdrFlags&clientFlags && slices.Equal(o.hdrKw, m.hdrKw) {
			// Unchanged on disk: our pending changes still apply.
			m.flags = m.flags&^clientFlags | o.flags&clientFlags
			m.kw = o.kw
			m.recent = o.recent
			continue
		}
		ch.Flags = append(ch.Flags, m.uid)
		// Changed on disk by another writer. Changes made here and not
		// written yet are not dropped for that (a POP3 session's DELE
		// marks, an IMAP STORE): what we added or removed is applied on
		// top of the other writer's flags and keywords, as Dovecot's
		// index sync merges its pending changes with the file's.
		mergePending(m, o)
	}
	for _, o := range old {
		if !seen[o.uid] {
			ch.Expunged = append(ch.Expunged, o.uid)
		}
	}
	return ch, nil
}

func (mb *Mailbox) firstStale() bool {
	all := mb.ordered()
	if len(all) == 0 {
		return false
	}
	f := all[0]
	return mb.baseRewrite || !f.baseOK || f.baseLast != mb.nextUID-1
}

// flush writes every header that changed. dropRecent marks all messages
// 'O' (Dovecot does this when a session that saw \Recent messages closes).
func (mb *Mailbox) flush(ctx context.Context, dropRecent bool) error {
	need := mb.firstStale()
	for _, m := range mb.ordered() {
		if m.needsWrite(dropRecent) {
			need = true
			break
		}
	}
	if !need {
		// Appends alone do not rewrite the index (deliveries to a large
		// mailbox stay cheap); the next open parses just the new tail.
		if mb.indexStale {
			mb.indexStale = false
			return mb.saveIndex()
		}
		return nil
	}
	lk, err := mb.writeLock(ctx)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return mb.flushLocked(dropRecent, -1)
}

// flushLocked is flush with the write lock held; with limit >= 0 only the
// messages before that index (in ordered()) are written.
func (mb *Mailbox) flushLocked(dropRecent bool, limit int) error {
	mb.dropRecentFlags(dropRecent)
	all := mb.ordered()
	if limit >= 0 {
		all = all[:limit]
	}
	type patch struct {
		off  int64
		data []byte
	}
	var patches []patch
	var patched []int
	tail := -1
	for i, m := range all {
		first := i == 0
		if !m.needsWrite(false) && !(first && (mb.baseRewrite || !m.baseOK || m.baseLastAt < 0)) {
			if first && m.baseLast != mb.nextUID-1 && m.baseLastAt >= 0 {
				patches = append(patches, patch{m.baseLastAt, appendUID10(nil, mb.nextUID-1)})
			}
			continue
		}
		hdr, err := mb.readHeader(m)
		if err != nil {
			return err
		}
		data, ok := mb.buildHeader(hdr, m, first).fit(len(hdr))
		if !ok {
			tail = i
			break
		}
		patches = append(patches, patch{m.hdrOff, data})
		patched = append(patched, i)
	}
	for _, p := range patches {
		if _, err := mb.f.WriteAt(p.data, p.off); err != nil {
			return fmt.Errorf("write mbox header: %w", err)
		}
	}
	if tail >= 0 {
		if err := mb.rewriteTail(tail, true); err != nil {
			return err
		}
	} else {
		if err := mb.f.Sync(); err != nil {
			return fmt.Errorf("fsync mbox: %w", err)
		}
	}
	for _, i := range patched {
		mb.headerWritten(all[i], i == 0)
	}
	if tail < 0 && len(all) > 0 && all[0].baseLastAt >= 0 {
		all[0].baseLast = mb.nextUID - 1
	}
	mb.baseRewrite = false
	if err := mb.restat(); err != nil {
		return err
	}
	return mb.saveIndex()
}

func (mb *Mailbox) readHeader(m *msg) ([]byte, error) {
	hdr := make([]byte, m.bodyOff-m.hdrOff)
	if _, err := mb.f.ReadAt(hdr, m.hdrOff); err != nil && len(hdr) > 0 {
		return nil, fmt.Errorf("read mbox header: %w", err)
	}
	return hdr, nil
}

// headerWritten records that m's header in the file now says what we hold,
// re-reading the spots we patch later (X-IMAPbase uid-last).
func (mb *Mailbox) headerWritten(m *msg, first bool) {
	m.hdrFlags = m.flags
	m.hdrKw = m.kw
	m.dirty = false
	m.baseOK, m.baseLastAt = false, -1
	hdr, err := mb.readHeader(m)
	if err != nil {
		return
	}
	m.size = visibleSize(visibleHeader(hdr)) + m.bodyVis
	if !first {
		return
	}
	for _, h := range splitHeader(hdr) {
		if h.kind == hdrXIMAPbase || h.kind == hdrXIMAP {
			if b, ok := parseIMAPBase(h.value(hdr)); ok {
				m.baseOK = true
				m.baseLast = b.uidLast
				if b.tenDigits {
					m.baseLastAt = m.hdrOff + int64(h.valStart+b.lastPos)
				}
			}
			return
		}
	}
}

func (mb *Mailbox) restat() error {
	st, err := statFile(mb.f)
	if err != nil {
		return err
	}
	mb.setStat(st)
	return nil
}

// Expunge removes the messages flagged \Deleted, moving the rest of the file
// down in place under the write lock, and returns their UIDs. When the last
// message goes, Dovecot's pseudo message keeps UIDVALIDITY and uid-last.
func (mb *Mailbox) Expunge(ctx context.Context) ([]uint32, error) {
	if mb.ro {
		return nil, errors.New("expunge: mailbox is read-only")
	}
	lk, err := mb.writeLock(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	mb.dropRecentFlags(mb.sessionRecent)
	mb.dropRecentFlags(mb.sessionRecent)
	firstDeleted := func() int {
		for i, m := range mb.ordered() {
			if !m.pseudo && m.flags&Deleted != 0 {
				return i
			}
		}
		return -1
	}
	// Pending changes of the messages before the first expunged one are
	// written first (Dovecot's expunge sync writes them too); the rewrite
	// below handles everything after it.
	if err := mb.flushLocked(mb.sessionRecent, firstDeleted()); err != nil {
		return nil, err
	}
	firstIdx := firstDeleted()
	if firstIdx < 0 {
		return nil, nil
	}
	var uids []uint32
	all := mb.ordered()
	for _, m := range all {
		if !m.pseudo && m.flags&Deleted != 0 {
			m.expunge = true
			uids = append(uids, m.uid)
		}
	}
	if len(uids) == len(mb.msgs) && mb.pseudo == nil {
		err = mb.writePseudo()
	} else {
		err = mb.rewriteTail(firstIdx, false)
	}
	if err != nil {
		for _, m := range all {
			m.expunge = false
		}
		return nil, err
	}
	if err := mb.restat(); err != nil {
		return uids, err
	}
	return uids, mb.saveIndex()
}

// pseudoBody is the text of Dovecot's (and UW-IMAP's) folder-internal-data
// message, byte for byte.
const pseudoBody = "This text is part of the internal format of your mail folder, and is not\n" +
	"a real message.  It is created automatically by the mail system software.\n" +
	"If deleted, important folder data will be lost, and it will be re-created\n" +
	"with the data reset to initial values.\n"

// pseudoMessage returns the message Dovecot writes when the last message of
// a mailbox is expunged.
func (mb *Mailbox) pseudoMessage() []byte {
	now := mb.opts.now().In(mb.opts.loc())
	host := mb.opts.hostname()
	var sb strings.Builder
	sb.WriteString(formatFromLine("MAILER_DAEMON", now, mb.opts.loc()))
	sb.WriteString("Date: " + now.Format("Mon, 02 Jan 2006 15:04:05 -0700") + "\n")
	sb.WriteString("From: Mail System Internal Data <MAILER-DAEMON@" + host + ">\n")
	sb.WriteString("Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n")
	sb.WriteString("Message-ID: <" + strconv.FormatInt(now.Unix(), 10) + "@" + host + ">\n")
	sb.WriteString("X-IMAP: " + strconv.FormatUint(uint64(mb.uidValidity), 10) + " " + string(appendUID10(nil, mb.nextUID-1)) + "\n")
	sb.WriteString("Status: RO\n\n")
	sb.WriteString(pseudoBody)
	sb.WriteString("\n")
	return []byte(sb.String())
}

// writePseudo replaces the whole file with the pseudo message.
func (mb *Mailbox) writePseudo() error {
	data := mb.pseudoMessage()
	jr, err := mb.startJournal(0)
	if err != nil {
		return err
	}
	werr := func() error {
		if err := hook("write"); err != nil {
			return err
		}
		if _, err := mb.f.WriteAt(data, 0); err != nil {
			return fmt.Errorf("write mbox: %w", err)
		}
		if err := mb.f.Truncate(int64(len(data))); err != nil {
			return fmt.Errorf("truncate mbox: %w", err)
		}
		return mb.f.Sync()
	}()
	if werr != nil {
		return mb.rollback(jr, werr)
	}
	jr.finish()
	st, err := statFile(mb.f)
	if err != nil {
		return err
	}
	if err := mb.parseSeeded(st, nil, mb.keywords); err != nil {
		return err
	}
	mb.setStat(st)
	// Dovecot writes the pseudo message without keywords and re-adds them
	// from its index when a later sync parses the file again.
	mb.baseRewrite = false
	return nil
}

// rewriteTail rewrites the file from message index k (in ordered()) on
// (grow: because header k outgrew its room; else: to expunge):
// expunged messages are left out, headers that changed are rebuilt (with
// padding when they grow), everything else is copied. The old tail is saved
// in a journal first, so a failure rolls the file back.
func (mb *Mailbox) rewriteTail(k int, grow bool) error {
	all := mb.ordered()
	start := all[k].fromOff
	if k > 0 {
		start = all[k-1].end
	}
	jr, err := mb.startJournal(start)
	if err != nil {
		return err
	}
	src := jr.reader()
	ow := io.NewOffsetWriter(mb.f, start)
	w := bufio.NewWriterSize(ow, 256<<10)
	pos := start
	type newOff struct{ fromOff, hdrOff, bodyOff, end int64 }
	offs := make([]newOff, len(all))
	rebuilt := make(map[*msg]bool)
	firstOut := k == 0
	werr := func() error {
		copyRange := func(from, to int64) error {
			if to <= from {
				return nil
			}
			n, err := io.Copy(w, io.NewSectionReader(src, from-start, to-from))
			pos += n
			if err != nil {
				return fmt.Errorf("copy mbox data: %w", err)
			}
			return nil
		}
		for i := k; i < len(all); i++ {
			m := all[i]
			if m.expunge {
				continue
			}
			if i > 0 && !firstOut {
				if err := copyRange(all[i-1].end, m.fromOff); err != nil {
					return err
				}
			}
			first := firstOut
			firstOut = false
			var no newOff
			no.fromOff = pos
			if err := copyRange(m.fromOff, m.hdrOff); err != nil {
				return err
			}
			no.hdrOff = pos
			hdrLen := m.bodyOff - m.hdrOff
			if m.needsWrite(false) || first || i == 0 {
				hdr := make([]byte, hdrLen)
				if _, err := src.ReadAt(hdr, m.hdrOff-start); err != nil && hdrLen > 0 {
					return fmt.Errorf("read mbox header: %w", err)
				}
				bh := mb.buildHeader(hdr, m, first)
				data, ok := bh.fit(len(hdr))
				if grow {
					// Dovecot's rewrite after a header outgrew its room gives
					// every rewritten header the standard padding.
					data, ok = bh.grown(), true
				}
				if !ok {
					// A message moving down into expunged space takes the
					// room it needs from there, unpadded, as Dovecot does;
					// otherwise it grows with Dovecot's padding.
					if slack := m.hdrOff - pos; int64(len(bh.b)-len(hdr)) <= slack {
						data = bh.b
					} else {
						data = bh.grown()
					}
				}
				n, err := w.Write(data)
				pos += int64(n)
				if err != nil {
					return fmt.Errorf("write mbox header: %w", err)
				}
				rebuilt[m] = true
			} else if err := copyRange(m.hdrOff, m.bodyOff); err != nil {
				return err
			}
			no.bodyOff = pos
			if err := copyRange(m.bodyOff, m.end); err != nil {
				return err
			}
			no.end = pos
			offs[i] = no
			if err := hook("message"); err != nil {
				return err
			}
		}
		last := all[len(all)-1]
		if err := copyRange(last.end, jr.size); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("write mbox: %w", err)
		}
		if err := hook("truncate"); err != nil {
			return err
		}
		if err := mb.f.Truncate(pos); err != nil {
			return fmt.Errorf("truncate mbox: %w", err)
		}
		if err := mb.f.Sync(); err != nil {
			return fmt.Errorf("fsync mbox: %w", err)
		}
		return nil
	}()
	if werr != nil {
		return mb.rollback(jr, werr)
	}
	jr.finish()
	var kept []*msg
	var pseudo *msg
	for i, m := range all {
		if m.expunge {
			continue
		}
		if i >= k {
			o := offs[i]
			m.fromOff, m.hdrOff, m.bodyOff, m.end = o.fromOff, o.hdrOff, o.bodyOff, o.end
		}
		if m.pseudo {
			pseudo = m
		} else {
			kept = append(kept, m)
		}
	}
	mb.pseudo = pseudo
	mb.msgs = kept
	for i, m := range mb.ordered() {
		if i == 0 || rebuilt[m] {
			mb.headerWritten(m, i == 0)
		}
	}
	return nil
}

// journal holds the old tail of the mbox while it is rewritten in place.
type journal struct {
	path  string
	f     *os.File
	start int64 // file offset the tail starts at
	size  int64 // file size before the rewrite
	hlen  int64
}

func (j *journal) reader() io.ReaderAt { return io.NewSectionReader(j.f, j.hlen, j.size-j.start) }

func (j *journal) finish() {
	j.f.Close()
	os.Remove(j.path)
}

// journalPath names the rollback journal: beside the index when there is
// one, else in the temporary directory keyed by device and inode.
func (mb *Mailbox) journalPath() string {
	if mb.opts.IndexPath != "" {
		return mb.opts.IndexPath + ".journal"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("mailsuite-mbox-%d-%d.journal", mb.st.dev, mb.st.ino))
}

const journalMagic = "mailsuite-mbox-journal 1"

func (mb *Mailbox) startJournal(start int64) (*journal, error) {
	st, err := statFile(mb.f)
	if err != nil {
		return nil, err
	}
	mb.setStat(st)
	path := mb.journalPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create journal dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	head := fmt.Sprintf("%s %d %d %d %s\n", journalMagic, st.ino, start, st.size, strconv.Quote(mb.path))
	j := &journal{path: path, f: tmp, start: start, size: st.size, hlen: int64(len(head))}
	fail := func(err error) (*journal, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	if _, err := tmp.WriteString(head); err != nil {
		return fail(fmt.Errorf("write journal: %w", err))
	}
	if _, err := io.Copy(tmp, io.NewSectionReader(mb.f, start, st.size-start)); err != nil {
		return fail(fmt.Errorf("write journal: %w", err))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("fsync journal: %w", err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(fmt.Errorf("rename journal: %w", err))
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return j, nil
}

// rollback puts the saved tail back after a failed rewrite.
func (mb *Mailbox) rollback(j *journal, cause error) error {
	if errors.Is(cause, errSimulatedCrash) {
		j.f.Close()
		return cause
	}
	if err := restoreJournal(mb.f, j.f, j.hlen, j.start, j.size); err != nil {
		j.f.Close()
		return fmt.Errorf("%w (rollback failed, journal kept at %s: %v)", cause, j.path, err)
	}
	j.finish()
	return cause
}

func restoreJournal(f, jf *os.File, hlen, start, size int64) error {
	if _, err := io.Copy(io.NewOffsetWriter(f, start), io.NewSectionReader(jf, hlen, size-start)); err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// recoverJournal finishes the rollback of a rewrite that a crash
// interrupted: the journal only exists (renamed into place) once it is
// complete, so its tail is put back over the file. A journal is also
// there while another Mailbox (in this or another process) is rewriting
// the file; that one holds the write lock until it has removed the
// journal, so the journal is judged only under the write lock: still
// there then means its writer died.
func (mb *Mailbox) recoverJournal(ctx context.Context) error {
	st, err := statFile(mb.f)
	if err != nil {
		return err
	}
	mb.setStat(st)
	path := mb.journalPath()
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil // the usual case: no lock needed
	}
	lk, err := LockFile(ctx, mb.f, mb.path, true, mb.opts.Lock)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	jf, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a live rewrite that has finished meanwhile
	}
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer jf.Close()
	if st, err = statFile(mb.f); err != nil {
		return err
	}
	mb.setStat(st)
	br := bufio.NewReader(jf)
	head, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read journal %s: %w", path, err)
	}
	var ino uint64
	var start, size int64
	var qpath string
	if _, err := fmt.Sscanf(strings.TrimSuffix(head, "\n"), journalMagic+" %d %d %d %q", &ino, &start, &size, &qpath); err != nil {
		return fmt.Errorf("read journal %s: bad header", path)
	}
	if ino != st.ino || qpath != mb.path {
		return nil // belongs to another file
	}
	jst, err := jf.Stat()
	if err != nil || jst.Size() != int64(len(head))+size-start {
		return fmt.Errorf("journal %s is incomplete", path)
	}
	if err := restoreJournal(mb.f, jf, int64(len(head)), start, size); err != nil {
		return fmt.Errorf("roll back mbox from %s: %w", path, err)
	}
	return os.Remove(path)
}

// mergePending applies the flag and keyword changes pending in o (set
// here since o's header was read, not yet written) to m, the same
// message as the file has it now after another writer changed it.
func mergePending(m, o *msg) {
	added := o.flags &^ o.hdrFlags & clientFlags
	removed := o.hdrFlags &^ o.flags & clientFlags
	m.flags = (m.flags | added) &^ removed
	if slices.Equal(o.kw, o.hdrKw) {
		return
	}
	kw := slices.Clone(m.kw)
	for _, k := range o.kw {
		if !slices.Contains(o.hdrKw, k) && !slices.Contains(kw, k) {
			kw = append(kw, k)
		}
	}
	kw = slices.DeleteFunc(kw, func(k int) bool {
		return slices.Contains(o.hdrKw, k) && !slices.Contains(o.kw, k)
	})
	slices.Sort(kw)
	m.kw = kw
}
