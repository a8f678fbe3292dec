// SPDX-License-Identifier: MIT

package cf

import (
	"strings"
	"time"
)

// Config is a parsed sendmail.cf.
type Config struct {
	// File is the name the cf was read under.
	File string
	// Version is the level of the V line (0 without one) and Vendor the
	// text after its "/".
	Version int
	Vendor  string

	// Macros holds the D lines: single-character names as themselves
	// ("j"), long names without braces ("daemon_flags").
	Macros map[string]string
	// Classes holds the words of C, F and T lines by class name (same
	// naming as Macros), each word once, in the order first seen.
	Classes map[string][]string
	// ClassFiles are the F lines.
	ClassFiles []ClassFile
	// Maps are the K lines by map name; MapOrder keeps their order.
	Maps     map[string]*Map
	MapOrder []string
	// Options are the O lines in file order, with canonical names.
	Options []Option
	// Mailers are the M lines by name; MailerOrder keeps their order.
	Mailers     map[string]*Mailer
	MailerOrder []string
	// Priorities are the P lines (Precedence names).
	Priorities map[string]int
	// TrustedUsers are the words of T lines (class t).
	TrustedUsers []string
	// Headers are the H lines.
	Headers []Header
	// Rulesets are the S lines with their R lines, uninterpreted.
	Rulesets []*Ruleset
	// Env holds the E lines ("TZ=UTC", or a bare name to import).
	Env []string
	// Milters (X lines) and QueueGroups (Q lines), as name and fields.
	Milters     []Definition
	QueueGroups []Definition
	// Warnings are messages sendmail prints without failing, such as an
	// option name given as an abbreviation.
	Warnings []string

	// The typed options, with Sendmail's built-in defaults where the cf
	// does not set them.
	Settings
}

// ClassFile is an F line: F{name}[-o] path [scanf-format], a program
// (F{name}|program) or a map (F{name}key@map).
type ClassFile struct {
	Class    string
	Path     string // file, program or map specification
	Optional bool   // -o
	Format   string // scanf format after the path, if any
	Program  bool   // the path came after "|"
	Map      bool   // the specification names a map (contains "@")
	Line     int
}

// Map is a K line: Kname class [flags] [file] [args].
type Map struct {
	Name  string
	Class string
	// Flags are the one-letter flags given, with their arguments
	// ("T": "<TMPF>", "o": "").
	Flags map[byte]string
	// File is the first argument that is not a flag: for hash and btree
	// maps the file, as written (with or without ".db"; sendmail opens
	// File+".db" when the suffix is missing).
	File string
	// Args is what follows File, unparsed.
	Args string
	// Spec is the whole text after the class name.
	Spec string
	Line int
}

// Has reports whether flag f was given.
func (m *Map) Has(f byte) bool { _, ok := m.Flags[f]; return ok }

// Optional reports -o: a missing map file is not an error.
func (m *Map) Optional() bool { return m.Has('o') }

// NoFoldCase reports -f: keys keep their case.
func (m *Map) NoFoldCase() bool { return m.Has('f') }

// IncludeNull reports -N: keys carry a trailing NUL.
func (m *Map) IncludeNull() bool { return m.Has('N') }

// NoTryNull reports -O: the trailing-NUL form is never tried.
func (m *Map) NoTryNull() bool { return m.Has('O') }

// MatchOnly reports -m: a hit returns the key.
func (m *Map) MatchOnly() bool { return m.Has('m') }

// TempFail is the argument of -T, the result of a temporary failure
// ("<TMPF>" for the access map).
func (m *Map) TempFail() string { return m.Flags['T'] }

// Append is the argument of -a, appended to every value found.
func (m *Map) Append() string { return m.Flags['a'] }

// Option is one O line.
type Option struct {
	// Name is the canonical long name (an abbreviation or one-letter
	// form resolved), Sub the sub-option after "." (Timeout.mail).
	Name  string
	Sub   string
	Value string
	Line  int
}

// Header is an H line: H?flags?Name: value, or H?${macro}?Name: value.
type Header struct {
	Name  string
	Value string
	// Flags are the mailer flags between "?"s; Macro the macro of a
	// ?${macro}? or ?$x? condition.
	Flags string
	Macro string
	Line  int
}

// Ruleset is an S line and the R lines after it.
type Ruleset struct {
	Name   string // empty for a numbered ruleset
	Number int    // -1 when only named
	Rules  []Rule
	Line   int
}

// Rule is an R line: LHS, RHS and comment, split at tabs, uninterpreted.
type Rule struct {
	LHS, RHS, Comment string
	Line              int
}

// Definition is an X (milter) or Q (queue group) line: a name and
// comma-separated X=value fields, keyed by their first letter.
type Definition struct {
	Name   string
	Fields map[byte]string
	Line   int
}

// Macro returns the value of macro name ("j" or "daemon_flags").
func (c *Config) Macro(name string) (string, bool) {
	v, ok := c.Macros[macroKey(name)]
	return v, ok
}

// Class returns the words of class name ("w" or "{w}").
func (c *Config) Class(name string) []string { return c.Classes[macroKey(name)] }

// InClass reports whether word is in class name, compared without
// regard to case as sendmail's symbol table does.
func (c *Config) InClass(name, word string) bool {
	for _, w := range c.Classes[macroKey(name)] {
		if strings.EqualFold(w, word) {
			return true
		}
	}
	return false
}

// AccessMap returns the declaration of the access map (FEATURE(access_db)).
func (c *Config) AccessMap() *Map { return c.Maps["access"] }

func newConfig(file string) *Config {
	return &Config{
		File:       file,
		Macros:     map[string]string{},
		Classes:    map[string][]string{},
		Maps:       map[string]*Map{},
		Mailers:    map[string]*Mailer{},
		Priorities: map[string]int{},
		Settings:   defaultSettings(),
	}
}

// macroKey turns "{j}" into "j" and "{long}" into "long".
func macroKey(name string) string {
	if len(name) >= 2 && name[0] == '{' && name[len(name)-1] == '}' {
		return name[1 : len(name)-1]
	}
	return name
}

func (c *Config) addClass(name, word string) {
	for _, w := range c.Classes[name] {
		if w == word {
			return
		}
	}
	c.Classes[name] = append(c.Classes[name], word)
}

// dur is a shorthand for the defaults table.
func dur(n int64, unit time.Duration) time.Duration { return time.Duration(n) * unit }
