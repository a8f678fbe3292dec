// SPDX-License-Identifier: MIT

package imapd

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailsuite/pkg/mbox"
)

var errNoSel = &imap.Error{Type: imap.StatusResponseTypeBad, Text: "No mailbox selected."}

// target is one message a command addresses: its current sequence number
// (in the shared mailbox), the sequence number the client knows, and the
// message.
type target struct {
	seq, clientSeq uint32
	msg            mbox.Message
}

// resolveLocked turns a client's number set into messages (sm.mu held).
func (v *selected) resolveLocked(numSet imap.NumSet) ([]target, error) {
	sm := v.sm
	if imap.IsSearchRes(numSet) {
		v.mu.Lock()
		var uids imap.UIDSet
		for _, u := range v.searchRes {
			uids.AddNum(imap.UID(u))
		}
		v.mu.Unlock()
		numSet = uids
	}
	var out []target
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := uint32(len(sm.uids))
		var max uint32
		for i := n; i > 0; i-- {
			if e := v.tracker.EncodeSeqNum(i); e != 0 {
				max = e
				break
			}
		}
		if max == 0 {
			return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Error in IMAP command: Invalid messageset"}
		}
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = max
			}
			if stop == 0 {
				stop = max
			}
			if start > stop {
				start, stop = stop, start
			}
			if stop > max {
				if start > max {
					return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Error in IMAP command: Invalid messageset"}
				}
				stop = max
			}
			for cs := start; cs <= stop; cs++ {
				seq := v.tracker.DecodeSeqNum(cs)
				if seq == 0 || int(seq) > len(sm.uids) {
					continue
				}
				m, ok := sm.messageLocked(sm.uids[seq-1])
				if !ok {
					continue
				}
				out = append(out, target{seq: seq, clientSeq: cs, msg: m})
			}
		}
	case imap.UIDSet:
		var maxUID uint32
		if n := len(sm.uids); n > 0 {
			maxUID = sm.uids[n-1]
		}
		for i, u := range sm.uids {
			if !uidSetContains(set, u, maxUID) {
				continue
			}
			seq := uint32(i + 1)
			cs := v.tracker.EncodeSeqNum(seq)
			if cs == 0 {
				continue
			}
			m, ok := sm.messageLocked(u)
			if !ok {
				continue
			}
			out = append(out, target{seq: seq, clientSeq: cs, msg: m})
		}
	}
	dedup(&out)
	return out, nil
}

// uidSetContains reads a UID set as RFC 3501 and Dovecot do: "*" is the
// highest UID in use and "n:*" with n beyond it still names that message
// (imaptest's search-sets: "UID SEARCH <uidnext>:*" finds the last one).
func uidSetContains(set imap.UIDSet, uid, max uint32) bool {
	for _, r := range set {
		start, stop := uint32(r.Start), uint32(r.Stop)
		if start == 0 {
			start = max
		}
		if stop == 0 {
			stop = max
		}
		if start > stop {
			start, stop = stop, start
		}
		if uid >= start && uid <= stop {
			return true
		}
	}
	return false
}

func dedup(ts *[]target) {
	seen := map[uint32]bool{}
	out := (*ts)[:0]
	for _, t := range *ts {
		if !seen[t.msg.UID] {
			seen[t.msg.UID] = true
			out = append(out, t)
		}
	}
	// keep sequence order
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].seq < out[j-1].seq; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	*ts = out
}

// Fetch implements imapserver.Session.
func (s *Session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	v := s.sel
	if v == nil {
		return errNoSel
	}
	s.st.conn.cork()
	defer s.st.conn.uncork()
	sm := v.sm
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if fetchReadsFile(options) {
		release, err := sm.readLockLocked(s.ctx(), v)
		if err != nil {
			return mailboxError("", err)
		}
		defer release()
	}
	ts, err := v.resolveLocked(numSet)
	if err != nil {
		return err
	}
	// Fetching a body section without .PEEK sets \Seen (RFC 3501 §6.4.5).
	setSeen := false
	for _, bs := range options.BodySection {
		if !bs.Peek {
			setSeen = true
		}
		// Dovecot echoes header field names upper-cased.
		for i := range bs.HeaderFields {
			bs.HeaderFields[i] = strings.ToUpper(bs.HeaderFields[i])
		}
		for i := range bs.HeaderFieldsNot {
			bs.HeaderFieldsNot[i] = strings.ToUpper(bs.HeaderFieldsNot[i])
		}
	}
	for _, bs := range options.BinarySection {
		if !bs.Peek {
			setSeen = true
		}
	}
	if options.Envelope {
		// The read lock keeps the file as it is for this command.
		v.hdrs = sm.mb.HeaderReader()
		defer func() { v.hdrs = nil }()
	}
	for _, t := range ts {
		m := t.msg
		flagsChanged := false
		if setSeen && !v.readOnly && m.Flags&mbox.Seen == 0 {
			if err := sm.mb.SetFlags(m.UID, m.Flags|mbox.Seen, m.Keywords); err == nil {
				m.Flags |= mbox.Seen
				flagsChanged = true
				sm.tracker.QueueMessageFlags(t.seq, imap.UID(m.UID), imapFlags(m, false), v.tracker)
			}
		}
		if err := v.fetchOne(w, t, m, options, flagsChanged); err != nil {
			return err
		}
	}
	return nil
}

func (v *selected) fetchOne(w *imapserver.FetchWriter, t target, m mbox.Message, options *imap.FetchOptions, flagsChanged bool) error {
	sm := v.sm
	rw := w.CreateMessage(t.clientSeq)
	if options.UID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if options.Flags || flagsChanged {
		rw.WriteFlags(imapFlags(m, v.isRecent(m.UID)))
	}
	// go-imap does not keep the request's order; this is Dovecot's order
	// for the FAST, ALL and FULL macros.
	if options.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	needBytes := options.BodyStructure != nil
	for _, bs := range options.BodySection {
		if !isWholeBody(bs) {
			needBytes = true
		}
	}
	var buf []byte
	if needBytes {
		r, err := sm.mb.Reader(m.UID)
		if err != nil {
			rw.Close()
			return err
		}
		if buf, err = messageBytes(r); err != nil {
			rw.Close()
			return err
		}
	}
	if options.Envelope {
		if buf != nil {
			rw.WriteEnvelope(envelopeRaw(splitEntity(buf).hdr))
		} else {
			// Only the header is read, into a buffer the mailbox reuses
			// (sm.mu held); envelopeRaw unfolds LF and CRLF alike, so only
			// a NUL needs the IMAP form's replacement.
			hdr, err := v.hdrs.AppendHeader(sm.hdrBuf[:0], m.UID)
			if err != nil {
				rw.Close()
				return err
			}
			sm.hdrBuf = hdr
			if bytes.IndexByte(hdr, 0) >= 0 {
				hdr = toIMAP(hdr, true)
			}
			rw.WriteEnvelope(envelopeRaw(hdr))
		}
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructure(buf))
	}
	for _, bs := range options.BodySection {
		if isWholeBody(bs) && buf == nil {
			// Streamed: the size is known without reading.
			r, err := sm.mb.Reader(m.UID)
			if err != nil {
				rw.Close()
				return err
			}
			wc := rw.WriteBodySection(bs, m.Size)
			cr := newCRLFReader(r)
			cb := copyBufs.Get().(*[]byte)
			var n int64
			n, err = io.CopyBuffer(wc, io.LimitReader(cr, m.Size), *cb)
			if err == nil && n < m.Size {
				err = io.ErrUnexpectedEOF
			}
			copyBufs.Put(cb)
			cr.release()
			if cerr := wc.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				rw.Close()
				return err
			}
			continue
		}
		data := extractSection(buf, bs)
		wc := rw.WriteBodySection(bs, int64(len(data)))
		wc.Write(data)
		if err := wc.Close(); err != nil {
			rw.Close()
			return err
		}
	}
	var bin []byte
	if len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		r, err := sm.mb.Reader(m.UID)
		if err != nil {
			rw.Close()
			return err
		}
		raw, err := io.ReadAll(r)
		if err != nil {
			rw.Close()
			return err
		}
		bin = toIMAP(raw, false)
	}
	for _, bs := range options.BinarySection {
		data := binarySection(bin, bs.Part, bs.Partial)
		wc := rw.WriteBinarySection(bs, int64(len(data)))
		wc.Write(data)
		if err := wc.Close(); err != nil {
			rw.Close()
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, uint32(len(binarySection(bin, bss.Part, nil))))
	}
	return rw.Close()
}

// copyBufs are io.CopyBuffer's buffers for streamed bodies (io.CopyN
// would allocate one per message).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fetchReadsFile reports whether a FETCH reads message bytes from the
// file (everything else comes from the index).
func fetchReadsFile(o *imap.FetchOptions) bool {
	return o.Envelope || o.BodyStructure != nil || len(o.BodySection) > 0 ||
		len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
}

func isWholeBody(bs *imap.FetchItemBodySection) bool {
	return len(bs.Part) == 0 && bs.Specifier == imap.PartSpecifierNone && bs.Partial == nil
}

// Store implements imapserver.Session.
func (s *Session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	v := s.sel
	if v == nil {
		return errNoSel
	}
	if v.readOnly {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Mailbox is read-only."}
	}
	s.st.conn.cork()
	defer s.st.conn.uncork()
	sm := v.sm
	sm.mu.Lock()
	defer sm.mu.Unlock()
	ts, err := v.resolveLocked(numSet)
	if err != nil {
		return err
	}
	fl, kw := fromIMAPFlags(flags.Flags)
	// UID STORE's FETCH responses carry the UID (RFC 3501 §6.4.8), as
	// Dovecot's do.
	_, byUID := numSet.(imap.UIDSet)
	for _, t := range ts {
		m := t.msg
		nf, nk := m.Flags, m.Keywords
		switch flags.Op {
		case imap.StoreFlagsSet:
			nf, nk = fl, kw
		case imap.StoreFlagsAdd:
			nf |= fl
			for _, k := range kw {
				if !containsFold(nk, k) {
					nk = append(append([]string(nil), nk...), k)
				}
			}
		case imap.StoreFlagsDel:
			nf &^= fl
			var keep []string
			for _, k := range nk {
				if !containsFold(kw, k) {
					keep = append(keep, k)
				}
			}
			nk = keep
		}
		if nf&mbox.Deleted != 0 && m.Flags&mbox.Deleted == 0 {
			s.stats.deleted++ // the logout line's deleted=
		}
		if err := sm.mb.SetFlags(m.UID, nf, nk); err != nil {
			return mailboxError("", err)
		}
		m.Flags, m.Keywords = nf, nk
		if m2, ok := sm.messageLocked(m.UID); ok {
			m = m2
		}
		sm.checkKeywordsLocked()
		sm.tracker.QueueMessageFlags(t.seq, imap.UID(m.UID), imapFlags(m, false), v.tracker)
		if !flags.Silent {
			rw := w.CreateMessage(t.clientSeq)
			if byUID {
				rw.WriteUID(imap.UID(m.UID))
			}
			rw.WriteFlags(imapFlags(m, v.isRecent(m.UID)))
			if err := rw.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
