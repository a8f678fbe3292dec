// SPDX-License-Identifier: MIT

package doveconf

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// dumpMode selects which settings an export shows, after doveconf's scopes.
type dumpMode uint8

const (
	modeChanged dumpMode = iota // -n: settings that differ from the defaults
	modeAll                     // -a: everything except hidden defaults
	modeSet                     // inside filters: what the configuration set
)

// item is one line of output: a setting or a block of further items.
type item struct {
	sortKey string
	key     string // setting key, or the block header ("service imap")
	value   string
	block   bool
	kids    []item
}

// cmpKeys orders keys as doveconf does: byte-wise with signed chars, the end
// of a setting key sorting before anything.
func cmpKeys(a, b string) int {
	for i := 0; ; i++ {
		switch {
		case i == len(a) && i == len(b):
			return 0
		case i == len(a):
			return -1
		case i == len(b):
			return 1
		case a[i] != b[i]:
			return int(int8(a[i])) - int(int8(b[i]))
		}
	}
}

func sortItems(items []item) {
	sort.SliceStable(items, func(i, j int) bool { return cmpKeys(items[i].sortKey, items[j].sortKey) < 0 })
}

func (n *node) export(mode dumpMode, inUnique bool) []item {
	var items []item
	for i := range n.schema.settings {
		d := &n.schema.settings[i]
		if inUnique && d.key == n.schema.typeKey {
			continue
		}
		v, changed := n.value(d.key), n.changed[d.key]
		var dumpDefault bool
		switch mode {
		case modeAll:
			dumpDefault = !d.hidden || changed
		case modeSet:
			dumpDefault = changed
		}
		def := d.def
		if inUnique {
			if changed {
				dumpDefault = true
			} else {
				def = v
			}
		}
		if dumpDefault || v != def {
			items = append(items, item{sortKey: d.key, key: d.key, value: v})
		}
	}
	for _, ld := range n.schema.lists {
		l := n.lists[ld.key]
		if l == nil {
			continue
		}
		if ld.kind == listStrings {
			var kids []item
			for _, kv := range l.strs {
				kids = append(kids, item{sortKey: kv[0], key: kv[0], value: kv[1]})
			}
			if len(kids) > 0 {
				sortItems(kids)
				items = append(items, item{sortKey: ld.key + "/", key: ld.key, block: true, kids: kids})
			}
			continue
		}
		for i, e := range l.elems {
			ekey := strconv.Itoa(i)
			header := ld.key
			if ld.kind == listUnique {
				if name := e.value(ld.schema.typeKey); name != "" {
					ekey = sectionEscape(name)
					if strings.Contains(name, " ") {
						header += ` "` + strEscape(name) + `"`
					} else {
						header += " " + name
					}
				}
			}
			kids := e.export(mode, ld.kind == listUnique)
			if len(kids) == 0 {
				continue
			}
			sortItems(kids)
			items = append(items, item{sortKey: ld.key + "/" + ekey + "/", key: header, block: true, kids: kids})
		}
	}
	sortItems(items)
	return items
}

const indentStr = "                              !!!!"

func indent(n int) string {
	if n*2 > len(indentStr) {
		n = len(indentStr) / 2
	}
	return indentStr[:n*2]
}

func writeItems(w *bufio.Writer, items []item, depth int) {
	for _, it := range items {
		w.WriteString(indent(depth))
		if it.block {
			w.WriteString(it.key)
			w.WriteString(" {\n")
			writeItems(w, it.kids, depth+1)
			w.WriteString(indent(depth))
			w.WriteString("}\n")
			continue
		}
		w.WriteString(it.key)
		w.WriteString(" = ")
		w.WriteString(formatValue(it.key, it.value))
		w.WriteByte('\n')
	}
}

// Dump writes the settings as doveconf does without its header comments:
// with all false only those that differ from Dovecot's defaults (-n), with
// all true every setting (-a). Secrets are hidden as doveconf hides them.
func (c *Config) Dump(w io.Writer, all bool) error {
	bw := bufio.NewWriter(w)
	mode := modeChanged
	if all {
		mode = modeAll
	}
	writeItems(bw, c.scopes[0].root.export(mode, false), 0)

	filters := append([]*scope(nil), c.scopes[1:]...)
	sort.SliceStable(filters, func(i, j int) bool { return filters[i].filter.less(filters[j].filter) })
	for _, s := range filters {
		items := s.root.export(modeSet, false)
		if len(items) == 0 {
			continue
		}
		depth := 0
		open := func(h string) {
			bw.WriteString(indent(depth))
			bw.WriteString(h)
			bw.WriteString(" {\n")
			depth++
		}
		f := s.filter
		if f.localBits > 0 {
			open("local " + prefixString(f.local, f.localBits))
		}
		if f.localName != "" {
			open("local_name " + f.localName)
		}
		if f.remoteBits > 0 {
			open("remote " + prefixString(f.remote, f.remoteBits))
		}
		if f.protocol != "" {
			open("protocol " + f.protocol)
		}
		writeItems(bw, items, depth)
		for depth > 0 {
			depth--
			bw.WriteString(indent(depth))
			bw.WriteString("}\n")
		}
	}
	return bw.Flush()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// strEscape backslash-escapes quotes and backslashes (Dovecot's str_escape).
func strEscape(s string) string {
	if !strings.ContainsAny(s, `"'\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func needQuote(v string) bool {
	if v == "" {
		return false
	}
	return strings.Contains(v, "#") || isWhite(v[0]) || isWhite(v[len(v)-1])
}

func formatValue(key, value string) string {
	if s, ok := hideSecrets(key, value); ok {
		return s
	}
	if !needQuote(value) {
		return value
	}
	return `"` + strEscape(value) + `"`
}

var secretWords = []string{"key", "secret", "pass", "http://", "https://", "ftp://"}

func nextSecret(v string, from int) (int, string) {
	best, word := -1, ""
	for _, s := range secretWords {
		if i := strings.Index(v[from:], s); i >= 0 && (best < 0 || from+i < best) {
			best, word = from+i, s
		}
	}
	return best, word
}

// hideSecrets masks what doveconf masks without -P: values of *_password,
// *_key, *_nonce and ssl_dh* settings, and password-like words and URL
// user parts inside other values.
func hideSecrets(key, value string) (string, bool) {
	if value != "" {
		for _, suf := range []string{"_password", "_key", "_nonce"} {
			if len(key) > len(suf) && strings.HasSuffix(key, suf) {
				return "# hidden, use -P to show it", true
			}
		}
		if strings.HasPrefix(key, "ssl_dh") {
			return "# hidden, use -P to show it", true
		}
	}
	quote := needQuote(value)
	var b strings.Builder
	emit := func(s string) {
		if quote {
			b.WriteString(strEscape(s))
		} else {
			b.WriteString(s)
		}
	}
	hidden := false
	optr, ptr := 0, 0
	for {
		at, word := nextSecret(value, ptr)
		if at < 0 {
			break
		}
		ptr = at
		hidden = true
		if strings.Contains(word, "://") {
			ptr += len(word)
			user, host := ptr, -1
			for ptr < len(value) && !isSpace(value[ptr]) && value[ptr] != '/' {
				if value[ptr] == '@' {
					host = ptr
					break
				}
				ptr++
			}
			emit(value[optr:user])
			if host >= 0 && host != user {
				b.WriteString("#hidden_use-P_to_show#")
			} else {
				emit(value[user:ptr])
			}
			optr = ptr
			continue
		}
		if ptr == 0 || !isAlnum(value[ptr-1]) {
			for ptr < len(value) && value[ptr] != '=' && !isSpace(value[ptr]) {
				ptr++
			}
			for ptr < len(value) && isSpace(value[ptr]) {
				ptr++
			}
			emit(value[optr:ptr])
			if ptr < len(value) && value[ptr] == '=' {
				b.WriteString("=#hidden_use-P_to_show#")
				for ptr < len(value) && !isSpace(value[ptr]) && value[ptr] != ';' && value[ptr] != ':' {
					ptr++
				}
			}
			optr = ptr
		} else {
			ptr++
		}
	}
	if !hidden {
		return "", false
	}
	emit(value[optr:])
	return b.String(), true
}
