// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"mailsuite/internal/deliver/remote"
	"mailsuite/internal/smtpd"
	"mailsuite/pkg/accessdb"
	"mailsuite/pkg/cf"
)

// addressTest is "sendmail -bt", address test mode, for the commands
// that do not run rulesets: "/map NAME KEY" (hash, btree and sequence
// maps), "$=X" (a class, in sendmail's symbol-table order), "$X" (a
// macro), "/quit", comments and empty lines. The output is the real
// sendmail's, byte for byte. Ruleset lines and the other "/" commands
// are refused with a message on stderr: sendmaild does not execute
// sendmail.cf rulesets.
func addressTest(o *options, stdin io.Reader, stdout, stderr io.Writer) int {
	c, err := cf.Load(o.cfPath, cf.Options{})
	if c == nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exConfig
	}
	res, err := remote.SystemResolver()
	if err != nil {
		fmt.Fprintf(stderr, "sendmail: %v\n", err)
		return exConfig
	}
	bt := &btSession{cf: c, out: bufio.NewWriter(stdout), errw: stderr, maps: map[string]*btMap{}}
	defer bt.close()
	bt.host = hostMacro(c)
	bt.classW = smtpd.RuntimeClassW(context.Background(), c, bt.host, res)
	fmt.Fprint(bt.out, "ADDRESS TEST MODE (ruleset 3 NOT automatically invoked)\nEnter <ruleset> <address>\n")
	in := bufio.NewReader(stdin)
	for {
		fmt.Fprint(bt.out, "> ")
		bt.out.Flush()
		line, err := in.ReadString('\n')
		if line == "" && err != nil {
			break
		}
		if !bt.command(strings.TrimRight(line, "\r\n")) {
			break
		}
	}
	bt.out.Flush()
	if bt.syserr {
		// A map that could not be opened was a syserr, which makes
		// sendmail exit with EX_OSERR.
		return exOSErr
	}
	return 0
}

// hostMacro is $j: the cf's Dj when it is a plain name, else the host's.
func hostMacro(c *cf.Config) string {
	if j, ok := c.Macro("j"); ok && j != "" && !strings.Contains(j, "$") {
		return j
	}
	h, _ := os.Hostname()
	return h
}

type btSession struct {
	cf     *cf.Config
	out    *bufio.Writer
	errw   io.Writer
	host   string
	classW []string
	maps   map[string]*btMap
	syserr bool
}

// btMap is a map opened on first use, as sendmail opens maps lazily in
// test mode.
type btMap struct {
	db  *accessdb.DBMap
	err error
}

func (b *btSession) close() {
	for _, m := range b.maps {
		if m.db != nil {
			m.db.Close()
		}
	}
}

// command runs one line; false ends the session.
func (b *btSession) command(line string) bool {
	switch {
	case line == "" || line[0] == '#':
	case line[0] == '$':
		b.showMacro(line[1:])
	case line[0] == '/':
		word, rest, _ := strings.Cut(line[1:], " ")
		switch strings.ToLower(word) {
		case "quit":
			return false
		case "map":
			b.mapCommand(strings.TrimLeft(rest, " \t"))
		case "mx", "parse", "try", "tryflags", "canon":
			fmt.Fprintf(b.errw, "sendmaild -bt: /%s is not implemented\n", word)
		default:
			fmt.Fprintf(b.out, "Unknown \"/\" command %s\n", line)
		}
	default:
		fmt.Fprintln(b.errw, "sendmaild -bt: rulesets are not executed (sendmaild has the stock rulesets built in)")
	}
	return true
}

// mapCommand is "/map NAME KEY": the key is everything after the one
// separator following the name, as sendmail reads it.
func (b *btSession) mapCommand(arg string) {
	if arg == "" {
		fmt.Fprintln(b.out, "Usage: /map mapname key")
		return
	}
	name, key, ok := strings.Cut(arg, " ")
	if n, k, tab := strings.Cut(arg, "\t"); tab && (!ok || len(n) < len(name)) {
		name, key, ok = n, k, true
	}
	if !ok || key == "" {
		fmt.Fprintln(b.out, "No key specified")
		return
	}
	val, status, found := b.lookup(name, key, 0)
	switch {
	case status < 0:
	case found:
		fmt.Fprintf(b.out, "map_lookup: %s (%s) returns %s (%d)\n", name, key, val, status)
	default:
		fmt.Fprintf(b.out, "map_lookup: %s (%s) no match (%d)\n", name, key, status)
	}
}

// Exit statuses a map lookup reports, from sysexits.h.
const (
	exOK       = 0
	exNotFound = 68
	exTempFail = 75
)

// lookup looks key up in the map called name. A negative status means
// the lookup printed its own message.
func (b *btSession) lookup(name, key string, depth int) (string, int, bool) {
	def := b.cf.Maps[name]
	if def == nil {
		fmt.Fprintf(b.out, "Map named \"%s\" not found\n", name)
		return "", -1, false
	}
	switch def.Class {
	case "hash", "btree":
		m := b.open(def)
		if m.err != nil {
			if errors.Is(m.err, fs.ErrNotExist) && def.Optional() {
				fmt.Fprintf(b.out, "Map named \"%s\" not open\n", name)
				return "", -1, false
			}
			return "", exTempFail, false
		}
		v, ok, err := m.db.Lookup(key)
		if err != nil {
			return "", exTempFail, false
		}
		return v, exOK, ok
	case "sequence":
		if depth > 10 {
			return "", exTempFail, false
		}
		// seq_map_lookup: the first submap that has the key wins;
		// submaps that are not open are passed over; no match is
		// EX_NOTFOUND, a temporary failure of a submap EX_TEMPFAIL.
		temp := false
		for _, sub := range strings.Fields(def.Spec) {
			sd := b.cf.Maps[sub]
			if strings.HasPrefix(sub, "-") || sd == nil {
				continue
			}
			if (sd.Class == "hash" || sd.Class == "btree") && b.open(sd).err != nil {
				continue
			}
			v, st, ok := b.lookup(sub, key, depth+1)
			if ok {
				return v, st, true
			}
			temp = temp || st == exTempFail
		}
		if temp {
			return "", exTempFail, false
		}
		return "", exNotFound, false
	}
	fmt.Fprintf(b.errw, "sendmaild -bt: map class %s is not implemented\n", def.Class)
	return "", -1, false
}

// open opens a hash or btree map on first use; a missing file is
// reported as sendmail reports it, once.
func (b *btSession) open(def *cf.Map) *btMap {
	if m := b.maps[def.Name]; m != nil {
		return m
	}
	m := &btMap{}
	m.db, m.err = accessdb.OpenDB(def.File, accessdb.DBOptions{NoFoldCase: def.NoFoldCase(), IncludeNull: def.IncludeNull(),
		NoTryNull: def.NoTryNull(), MatchOnly: def.MatchOnly(), Append: def.Append(),
		DontBlameSendmail: b.cf.DontBlameSendmail})
	if m.err != nil && !(def.Optional() && errors.Is(m.err, fs.ErrNotExist)) {
		b.syserr = true
		file := def.File
		if !strings.HasSuffix(file, ".db") {
			file += ".db"
		}
		if errors.Is(m.err, fs.ErrNotExist) {
			fmt.Fprintf(b.out, "%s map \"%s\": missing map file %s: No such file or directory\n", def.Class, def.Name, file)
		} else {
			fmt.Fprintf(b.out, "%s map \"%s\": %v\n", def.Class, def.Name, m.err)
		}
	}
	b.maps[def.Name] = m
	return m
}

// showMacro prints "$X" (a macro's value or "Undefined") or "$=X" (the
// members of a class, nothing for an empty one).
func (b *btSession) showMacro(s string) {
	if rest, ok := strings.CutPrefix(s, "="); ok {
		for _, w := range b.class(macroName(rest)) {
			fmt.Fprintln(b.out, w)
		}
		return
	}
	if v, ok := b.macro(macroName(s)); ok {
		fmt.Fprintln(b.out, v)
		return
	}
	fmt.Fprintln(b.out, "Undefined")
}

// macroName reads "x" or "{name}".
func macroName(s string) string {
	if strings.HasPrefix(s, "{") {
		if end := strings.IndexByte(s, '}'); end > 0 {
			return s[1:end]
		}
		return s[1:]
	}
	if s == "" {
		return ""
	}
	return s[:1]
}

// macro is the value of a macro: the built-in ones sendmail defines at
// start, then the cf's D lines.
func (b *btSession) macro(name string) (string, bool) {
	short, dom, _ := strings.Cut(b.host, ".")
	switch name {
	case "j":
		return b.host, true
	case "w":
		return short, true
	case "m":
		if dom != "" {
			return dom, true
		}
	case "v", "Z":
		return smtpd.Version, true
	}
	return b.cf.Macro(name)
}

// class returns the members of a class in the order sendmail's -bt
// prints them: the order of its symbol table, a hash of 2003 buckets
// over the lower-cased name seeded with the symbol type (ST_CLASS, 1),
// each bucket in insertion order. Class w holds the names sendmail adds
// at start (the host's names and addresses) besides the cf's.
func (b *btSession) class(name string) []string {
	words := b.cf.Class(name)
	if name == "w" {
		words = append(append([]string(nil), b.classW...), words...)
	}
	type entry struct {
		word   string
		bucket int
		seq    int
	}
	seen := map[string]bool{}
	var es []entry
	for i, w := range words {
		k := strings.ToLower(w)
		if seen[k] {
			continue
		}
		seen[k] = true
		es = append(es, entry{w, stabHash(w, stClass), i})
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].bucket < es[j].bucket })
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.word
	}
	return out
}

// Sendmail's symbol table: STABSIZE buckets, ST_CLASS entries.
const (
	stabSize = 2003
	stClass  = 1
)

// stabHash is stab.c's hash of name for a symbol of type typ.
func stabHash(name string, typ int) int {
	h := typ
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = ((h << 1) ^ int(c)) % stabSize
	}
	return h
}
