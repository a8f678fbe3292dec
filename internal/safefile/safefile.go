// SPDX-License-Identifier: MIT

// Package safefile applies Sendmail's safefile rule for the directories
// above a file it reads (maps, class files): none of them may be writable
// by others. It is shared by pkg/cf (class files) and pkg/accessdb (map
// files), which differ only in which DontBlameSendmail flag lifts the rule.
package safefile

import (
	"os"
	"path/filepath"
	"strings"
)

// Flags are the DontBlameSendmail words that relax the rule, as given in
// the cf (any case).
type Flags map[string]bool

// NewFlags folds DontBlameSendmail words for lookup.
func NewFlags(words []string) Flags {
	f := Flags{}
	for _, w := range words {
		f[strings.ToLower(w)] = true
	}
	return f
}

// Has reports whether the (lower-case) flag is set.
func (f Flags) Has(name string) bool { return f[name] }

// UnsafeDir walks the directories from top (or "/") down to dir and
// returns sendmail's complaint for the first one others may write to:
// "World writable directory" (unless it is sticky and TrustStickyBit is
// set) or "Group writable directory" (unless GroupWritableDirPathSafe).
// It returns "" when the path is safe, or when a directory cannot be
// examined (the open that follows reports that).
func UnsafeDir(dir, top string, f Flags) string {
	if top == "" {
		top = "/"
	}
	top = filepath.Clean(top)
	var dirs []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == top || d == "/" || d == "." {
			break
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		fi, err := os.Stat(dirs[i])
		if err != nil || !fi.IsDir() {
			return ""
		}
		m := fi.Mode()
		switch {
		case m.Perm()&0o002 != 0:
			if m&os.ModeSticky != 0 && f.Has("truststickybit") {
				continue
			}
			return "World writable directory"
		case m.Perm()&0o020 != 0 && !f.Has("groupwritabledirpathsafe"):
			return "Group writable directory"
		}
	}
	return ""
}
