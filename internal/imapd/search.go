// SPDX-License-Identifier: MIT

package imapd

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"mailsuite/pkg/mbox"
)

// Search implements imapserver.Session.
func (s *Session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	v := s.sel
	if v == nil {
		return nil, errNoSel
	}
	sm := v.sm
	sm.mu.Lock()
	defer sm.mu.Unlock()
	release, err := sm.readLockLocked(s.ctx(), v)
	if err != nil {
		return nil, mailboxError("", err)
	}
	defer release()
	msgs := sm.messagesLocked()
	var maxUID uint32
	if len(msgs) > 0 {
		maxUID = msgs[len(msgs)-1].UID
	}
	var clientMax uint32
	for i := len(msgs); i > 0; i-- {
		if e := v.tracker.EncodeSeqNum(uint32(i)); e != 0 {
			clientMax = e
			break
		}
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	var saved []uint32
	for i, m := range msgs {
		seq := uint32(i + 1)
		cs := v.tracker.EncodeSeqNum(seq)
		if cs == 0 {
			continue
		}
		ms := &matcher{v: v, m: m, clientSeq: cs, maxUID: maxUID, clientMax: clientMax}
		if !ms.match(criteria) {
			continue
		}
		num := cs
		if kind == imapserver.NumKindUID {
			num = m.UID
			uids.AddNum(imap.UID(m.UID))
		} else {
			seqs.AddNum(cs)
		}
		saved = append(saved, m.UID)
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	if options.ReturnSave {
		v.mu.Lock()
		v.searchRes = saved
		v.mu.Unlock()
	}
	return data, nil
}

type matcher struct {
	v         *selected
	m         mbox.Message
	clientSeq uint32
	maxUID    uint32
	clientMax uint32
	buf       []byte
	hdr       *textproto.Header
	body      *string
	htext     *string
}

func (ms *matcher) bytes() []byte {
	if ms.buf == nil {
		r, err := ms.v.sm.mb.Reader(ms.m.UID)
		if err == nil {
			ms.buf, _ = messageBytes(r)
		}
		if ms.buf == nil {
			ms.buf = []byte{}
		}
	}
	return ms.buf
}

func (ms *matcher) bodyText() string {
	if ms.body == nil {
		s := string(searchBody(splitEntity(ms.bytes()), false))
		ms.body = &s
	}
	return *ms.body
}

func (ms *matcher) headerText() string {
	if ms.htext == nil {
		s := searchHeader(splitEntity(ms.bytes()).hdr)
		ms.htext = &s
	}
	return *ms.htext
}

func (ms *matcher) header() textproto.Header {
	if ms.hdr == nil {
		h := readHeader(ms.bytes())
		ms.hdr = &h
	}
	return *ms.hdr
}

func (ms *matcher) match(c *imap.SearchCriteria) bool {
	m := ms.m
	for _, set := range c.SeqNum {
		if imap.IsSearchRes(set) {
			if !ms.inSaved() {
				return false
			}
			continue
		}
		if !seqSetContains(set, ms.clientSeq, ms.clientMax) {
			return false
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			if !ms.inSaved() {
				return false
			}
			continue
		}
		if !uidSetContains(set, m.UID, ms.maxUID) {
			return false
		}
	}
	day := func(t time.Time) time.Time {
		y, mo, d := t.Date()
		return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	}
	if !c.Since.IsZero() && day(m.InternalDate).Before(day(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !day(m.InternalDate).Before(day(c.Before)) {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		env := envelope(ms.header())
		// No (valid) Date: Dovecot compares as if sent at the epoch.
		sent := env.Date
		if sent.IsZero() {
			sent = time.Unix(0, 0)
		}
		if !c.SentSince.IsZero() && day(sent).Before(day(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !day(sent).Before(day(c.SentBefore)) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !ms.hasFlag(f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if ms.hasFlag(f) {
			return false
		}
	}
	if c.Larger > 0 && m.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && m.Size >= c.Smaller {
		return false
	}
	for _, hf := range c.Header {
		h := ms.header()
		fields := h.FieldsByKey(hf.Key)
		found := false
		addr := isAddressHeader(hf.Key)
		for fields.Next() {
			v := fields.Value()
			if addr {
				v = addressText(parseAddressList(v))
			}
			if hf.Value == "" || containsFoldStr(decodedHeader(v), hf.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, s := range c.Body {
		if !containsFoldStr(ms.bodyText(), s) {
			return false
		}
	}
	for _, s := range c.Text {
		if !containsFoldStr(ms.headerText(), s) && !containsFoldStr(ms.bodyText(), s) {
			return false
		}
	}
	for i := range c.Not {
		if ms.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !ms.match(&c.Or[i][0]) && !ms.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

func (ms *matcher) inSaved() bool {
	ms.v.mu.Lock()
	defer ms.v.mu.Unlock()
	for _, u := range ms.v.searchRes {
		if u == ms.m.UID {
			return true
		}
	}
	return false
}

func (ms *matcher) hasFlag(f imap.Flag) bool {
	if canonFlag(f) == "\\Recent" {
		return ms.v.recent[ms.m.UID]
	}
	for _, x := range imapFlags(ms.m, false) {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

func seqSetContains(set imap.NumSet, seq, max uint32) bool {
	ss, ok := set.(imap.SeqSet)
	if !ok {
		return false
	}
	for _, r := range ss {
		if rangeContains(r.Start, r.Stop, seq, max) {
			return true
		}
	}
	return false
}

// rangeContains is Dovecot's reading of "n:*" in SEARCH: when n is beyond
// the last message the range is empty (RFC 3501 would swap it to "*:n").
func rangeContains(start, stop, n, max uint32) bool {
	if start == 0 && stop == 0 {
		return n == max
	}
	if start == 0 {
		start, stop = stop, start
	}
	if stop == 0 {
		if start > max {
			return false
		}
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return n >= start && n <= stop
}

// containsFoldStr is Dovecot's substring match for SEARCH: case-insensitive
// (ASCII and simple Unicode folding), no MIME decoding here.
func containsFoldStr(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// isAddressHeader tells the criteria FROM, TO, CC and BCC, which Dovecot
// matches against the addresses as it writes them out again, from HEADER,
// which looks at the raw field. go-imap turns FROM into the key "From"
// and leaves HEADER's key as the client spelt it, so only "HEADER From"
// spelt exactly so is taken for FROM.
func isAddressHeader(key string) bool {
	switch key {
	case "From", "To", "Cc", "Bcc":
		return true
	}
	return false
}

// addressText writes parsed addresses back as Dovecot's
// message_address_write does: "Name <local@domain>" or "local@domain",
// separated by ", ", comments dropped (a comment that named an address
// is its name), source routes kept.
func addressText(l []imap.Address, routes []string) string {
	var b strings.Builder
	for i, a := range l {
		if a == (imap.Address{}) {
			b.WriteByte(';') // end of a group
			continue
		}
		if i > 0 {
			b.WriteString(", ")
		}
		spec := a.Mailbox
		if a.Host != "" {
			spec += "@" + a.Host
		}
		if routes[i] != "" {
			spec = routes[i] + ":" + spec
		}
		if a.Name != "" || routes[i] != "" {
			if a.Name != "" {
				b.WriteString(a.Name + " ")
			}
			b.WriteString("<" + spec + ">")
		} else {
			b.WriteString(spec)
		}
	}
	return b.String()
}
