// SPDX-License-Identifier: MIT

package doveconf

import (
	"net/netip"
	"sort"
	"strings"
)

// clone returns a deep copy of a block.
func (n *node) clone() *node {
	c := newNode(n.schema)
	c.ekey = n.ekey
	for k, v := range n.vals {
		c.vals[k] = v
	}
	for k, v := range n.changed {
		c.changed[k] = v
	}
	for k, l := range n.lists {
		nl := &elemList{strs: append([][2]string(nil), l.strs...)}
		for _, e := range l.elems {
			nl.elems = append(nl.elems, e.clone())
		}
		c.lists[k] = nl
	}
	return c
}

// applyChanges copies what src changed into dest, as Dovecot merges a less
// specific filter into a more specific one: values dest changed itself
// stay (or are a conflict when check is set, reported by key); indexed
// lists are appended, named elements merged by name, string lists
// completed.
func applyChanges(dest, src *node, check bool) string {
	for _, d := range dest.schema.settings {
		if !src.changed[d.key] {
			continue
		}
		if dest.changed[d.key] {
			if check {
				return d.key
			}
			continue
		}
		dest.vals[d.key] = src.value(d.key)
		dest.changed[d.key] = true
	}
	for _, ld := range dest.schema.lists {
		sl := src.lists[ld.key]
		if sl == nil {
			continue
		}
		dl := dest.list(ld.key)
		switch ld.kind {
		case listStrings:
			for _, kv := range sl.strs {
				found := false
				for _, have := range dl.strs {
					if have[0] == kv[0] {
						found = true
						break
					}
				}
				if !found {
					dl.strs = append(dl.strs, kv)
				}
			}
		case listIndexed:
			for _, e := range sl.elems {
				dl.elems = append(dl.elems, e.clone())
			}
		case listUnique:
			for _, e := range sl.elems {
				name := e.value(ld.schema.typeKey)
				var target *node
				if name != "" {
					for _, de := range dl.elems {
						if de.value(ld.schema.typeKey) == name {
							target = de
							break
						}
					}
				}
				if target == nil {
					dl.elems = append(dl.elems, e.clone())
					continue
				}
				if k := applyChanges(target, e, check); k != "" {
					return k
				}
			}
		}
	}
	return ""
}

// maskMatches tells whether the filter block mask applies to the query q
// (Dovecot's config_filter_match).
func maskMatches(mask, q filter) bool {
	if mask.protocol != "" {
		if q.protocol == "" {
			return false
		}
		if strings.HasPrefix(mask.protocol, "!") {
			if q.protocol == mask.protocol[1:] {
				return false
			}
		} else if q.protocol != mask.protocol {
			return false
		}
	}
	if mask.localName != "" {
		if q.localName == "" || !localNameMatches(mask.localName, q.localName) {
			return false
		}
	}
	if mask.remoteBits > 0 && (q.remoteBits == 0 || !netContains(mask.remote, mask.remoteBits, q.remote)) {
		return false
	}
	if mask.localBits > 0 && (q.localBits == 0 || !netContains(mask.local, mask.localBits, q.local)) {
		return false
	}
	return true
}

// localNameMatches matches a name against a local_name block's blank
// separated names, which may start with a "*." wildcard.
func localNameMatches(names, name string) bool {
	for _, n := range strings.Fields(names) {
		if strings.EqualFold(n, name) {
			return true
		}
		if strings.HasPrefix(n, "*.") {
			if i := strings.IndexByte(name, '.'); i >= 0 && strings.EqualFold(n[1:], name[i:]) {
				return true
			}
		}
	}
	return false
}

// moreSpecific orders filter blocks most specific first, as Dovecot merges
// them (the reverse of the order doveconf prints them in).
func moreSpecific(f, g filter) bool { return g.less(f) }

// isSuperset tells whether sup is no more specific than f, in which case
// Dovecot merges without looking for conflicts.
func isSuperset(sup, f filter) bool {
	switch {
	case sup.localBits > f.localBits, sup.remoteBits > f.remoteBits:
		return false
	case sup.localName != "" && f.localName == "":
		return false
	case sup.protocol != "" && f.protocol == "":
		return false
	}
	return true
}

// resolve merges every block that applies to q, most specific first. With
// check set it reports a conflict as Dovecot does: "Conflict in setting
// <key> found from filter at <file:line>".
func (c *Config) resolve(q filter, check bool) (*node, string) {
	var matches []*scope
	for _, s := range c.scopes {
		if maskMatches(s.filter, q) {
			matches = append(matches, s)
		}
	}
	sort.SliceStable(matches, func(i, j int) bool { return moreSpecific(matches[i].filter, matches[j].filter) })
	dest := matches[0].root.clone()
	for i := 1; i < len(matches); i++ {
		strict := check && !isSuperset(matches[i].filter, matches[i-1].filter)
		if k := applyChanges(dest, matches[i].root, strict); k != "" {
			where := matches[i].where
			if where == "" {
				where = c.Path
			}
			return nil, "Conflict in setting " + k + " found from filter at " + where
		}
	}
	return dest, ""
}

// query turns a connection description into the filter Dovecot looks up.
func (m Match) query() filter {
	q := filter{protocol: m.Protocol, localName: m.LocalName}
	if m.Local.IsValid() {
		a := m.Local.Unmap()
		q.local, q.localBits = netip.PrefixFrom(a, a.BitLen()), a.BitLen()
	}
	if m.Remote.IsValid() {
		a := m.Remote.Unmap()
		q.remote, q.remoteBits = netip.PrefixFrom(a, a.BitLen()), a.BitLen()
	}
	return q
}
