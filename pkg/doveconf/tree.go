// SPDX-License-Identifier: MIT

package doveconf

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// node is one block of settings: the root of the global scope or of a
// filter, or one element of a section list (a service, a passdb, ...).
type node struct {
	schema  *schema
	vals    map[string]string // current values; absent = the schema default
	changed map[string]bool   // set by the configuration
	lists   map[string]*elemList
	ekey    string // key of this element within its list (escaped name or counter)
}

// elemList holds the elements of one section list of a node, in creation
// order, or the pairs of a string list.
type elemList struct {
	elems []*node
	strs  [][2]string
}

func newNode(s *schema) *node {
	return &node{schema: s, vals: map[string]string{}, changed: map[string]bool{}, lists: map[string]*elemList{}}
}

// newRootNode returns a root block holding Dovecot's built-in list
// elements (the default services).
func newRootNode() *node {
	n := newNode(rootSchema)
	for _, e := range defaultElems {
		n.addDefault(e)
	}
	return n
}

// defaultElems are the built-in elements in Dovecot's internal order (its
// services come in descending name order), which decides the order of
// some check messages.
var defaultElems = func() []elemDefault {
	out := append([]elemDefault(nil), generatedElems...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].name > out[j].name })
	return out
}()

func (n *node) addDefault(e elemDefault) {
	ld, ok := n.schema.list(e.list)
	if !ok {
		return
	}
	c := newNode(ld.schema)
	c.ekey = sectionEscape(e.name)
	if ld.schema.typeKey != "" {
		c.vals[ld.schema.typeKey] = e.name
	}
	for _, kv := range e.vals {
		c.vals[kv[0]] = kv[1]
	}
	for _, k := range e.kids {
		c.addDefault(k)
	}
	n.list(e.list).elems = append(n.list(e.list).elems, c)
}

func (n *node) list(key string) *elemList {
	l := n.lists[key]
	if l == nil {
		l = &elemList{}
		n.lists[key] = l
	}
	return l
}

// value returns the current value of a setting of this block.
func (n *node) value(key string) string {
	if v, ok := n.vals[key]; ok {
		return v
	}
	if d, ok := n.schema.setting(key); ok {
		return d.def
	}
	return ""
}

// set stores a setting given by the configuration after checking its type.
func (n *node) set(key, value string) error {
	d, ok := n.schema.setting(key)
	if !ok {
		return errUnknown
	}
	v, err := d.normalize(value)
	if err != nil {
		return err
	}
	n.vals[d.key] = v
	n.changed[d.key] = true
	return nil
}

// find returns the element of a list with the given key.
func (l *elemList) find(ekey string) *node {
	for _, e := range l.elems {
		if e.ekey == ekey {
			return e
		}
	}
	return nil
}

// setStr stores a string-list pair, replacing an earlier one.
func (l *elemList) setStr(key, value string) {
	for i := range l.strs {
		if l.strs[i][0] == key {
			l.strs[i][1] = value
			return
		}
	}
	l.strs = append(l.strs, [2]string{key, value})
}

// sectionEscape escapes a section name the way Dovecot keys it internally,
// which decides the order doveconf prints sections in.
func sectionEscape(name string) string {
	if !strings.ContainsAny(name, "=/\\ ,") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '=':
			b.WriteString(`\e`)
		case '/':
			b.WriteString(`\s`)
		case '\\':
			b.WriteString(`\\`)
		case ' ':
			b.WriteString(`\_`)
		case ',':
			b.WriteString(`\+`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// filter selects where a block of settings applies: Dovecot's protocol,
// local, remote and local_name sections.
type filter struct {
	protocol   string // may start with '!'
	localName  string
	local      netip.Prefix
	remote     netip.Prefix
	localBits  int
	remoteBits int
}

func (f filter) equal(g filter) bool {
	return f.protocol == g.protocol && strings.EqualFold(f.localName, g.localName) &&
		f.localBits == g.localBits && f.remoteBits == g.remoteBits &&
		(f.localBits == 0 || f.local.Addr() == g.local.Addr()) &&
		(f.remoteBits == 0 || f.remote.Addr() == g.remote.Addr())
}

func (f filter) isLocalRemote() bool {
	return f.localName != "" || f.localBits > 0 || f.remoteBits > 0
}

// rank orders filters the way doveconf prints them: plain protocol filters
// first, then by growing local and remote specificity.
func (f filter) less(g filter) bool {
	if (f.localName != "") != (g.localName != "") {
		return f.localName == ""
	}
	if f.localBits != g.localBits {
		return f.localBits < g.localBits
	}
	if f.remoteBits != g.remoteBits {
		return f.remoteBits < g.remoteBits
	}
	if (f.protocol != "") != (g.protocol != "") {
		return f.protocol == ""
	}
	return false
}

func prefixString(p netip.Prefix, bits int) string {
	s := p.Addr().String()
	if bits != p.Addr().BitLen() {
		s += "/" + strconv.Itoa(bits)
	}
	return s
}

// scope is the root block of the global settings or of one filter.
type scope struct {
	filter filter
	root   *node
	where  string // file:line of the first section that opened it
}
