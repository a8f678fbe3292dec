// SPDX-License-Identifier: MIT

package aliases

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Alias is one entry of an aliases(5) file.
type Alias struct {
	// Name is the key as Sendmail stores it: lower-cased, angle brackets
	// removed, unquoted blanks replaced by "." (BlankSub).
	Name string
	// Value is the right-hand side as written, continuation lines joined
	// (the newline removed, their leading blanks kept), leading blanks
	// removed.
	Value string
	// Line is the line the entry starts on.
	Line int
}

// Error is a problem in an aliases file, printed as Sendmail prints it:
// "/etc/aliases: line 13: missing colon".
type Error struct {
	File string
	Line int
	Msg  string
	// Warning marks a message that does not fail newaliases (a
	// duplicate name).
	Warning bool
}

func (e *Error) Error() string { return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Msg) }

// maxLine is Sendmail's alias line buffer (BUFSIZ * 2 in readaliases).
const maxLine = 64 << 10

// Parse reads an aliases file the way Sendmail's readaliases does and
// returns its entries in file order (duplicates included: the later one
// wins in a database) and every problem found, each naming file and line.
// Entries with errors are left out.
func Parse(r io.Reader, file string) ([]Alias, []*Error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Alias
	var errs []*Error
	seen := map[string]bool{}
	lineNo := 0
	skipping := false
	var pending []byte // a line read ahead
	readLine := func() ([]byte, bool) {
		if pending != nil {
			l := pending
			pending = nil
			lineNo++
			return l, true
		}
		l, err := br.ReadBytes('\n')
		if len(l) == 0 && err != nil {
			return nil, false
		}
		lineNo++
		return bytes.TrimSuffix(l, []byte("\n")), true
	}
	for {
		line, ok := readLine()
		if !ok {
			break
		}
		start := lineNo
		// A backslash at the end of a line joins the next line.
		for bytes.HasSuffix(line, []byte("\\")) {
			next, ok := readLine()
			if !ok {
				break
			}
			line = append(line[:len(line)-1:len(line)-1], next...)
		}
		if len(line) == 0 {
			skipping = false
			continue
		}
		switch line[0] {
		case '#':
			// A comment also swallows the continuation lines after
			// it, so that commenting out an entry's first line
			// comments out the whole entry.
			skipping = true
			continue
		case ' ', '\t':
			if !skipping {
				errs = append(errs, &Error{File: file, Line: lineNo, Msg: "Non-continuation line starts with space"})
			}
			skipping = true
			continue
		}
		skipping = false
		// Continuation lines.
		for {
			next, ok := readLine()
			if !ok {
				break
			}
			if len(next) > 0 && (next[0] == ' ' || next[0] == '\t') {
				line = append(line, next...)
				continue
			}
			pending = next
			if pending == nil {
				pending = []byte{}
			}
			lineNo-- // the read-ahead line is counted again when used
			break
		}
		if len(line) > maxLine {
			errs = append(errs, &Error{File: file, Line: start, Msg: "alias too long"})
			continue
		}
		a, err := parseEntry(string(line))
		if err != "" {
			errs = append(errs, &Error{File: file, Line: start, Msg: err})
			continue
		}
		a.Line = start
		if seen[a.Name] {
			errs = append(errs, &Error{File: file, Line: start, Msg: a.Name + "... Warning: duplicate alias name " + a.Name, Warning: true})
		}
		seen[a.Name] = true
		out = append(out, a)
	}
	return out, errs
}

// parseEntry splits "name: value" into an Alias, or returns Sendmail's
// complaint.
func parseEntry(line string) (Alias, string) {
	// The colon ends the name unless it is quoted or in angle brackets.
	inq, depth := false, 0
	colon := -1
	for i := 0; i < len(line) && colon < 0; i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
		case c == '"':
			inq = !inq
		case inq:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ':' && depth <= 0:
			colon = i
		}
	}
	if colon < 0 {
		return Alias{}, "missing colon"
	}
	name := strings.TrimSpace(line[:colon])
	if strings.HasPrefix(name, "<") && strings.HasSuffix(name, ">") {
		name = strings.TrimSpace(name[1 : len(name)-1])
	}
	if name == "" {
		return Alias{}, "illegal alias name"
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 && !strings.HasPrefix(name, "\"") {
		return Alias{}, name + "... cannot alias non-local names"
	}
	name = blankSub(strings.ToLower(name))
	value := strings.TrimLeft(line[colon+1:], " \t")
	if strings.TrimSpace(value) == "" {
		return Alias{}, line + "... missing value for alias"
	}
	return Alias{Name: name, Value: value}, ""
}

// blankSub replaces unquoted blanks by '.', Sendmail's default BlankSub.
func blankSub(s string) string {
	b := []byte(s)
	inq := false
	for i, c := range b {
		switch {
		case c == '"':
			inq = !inq
		case !inq && (c == ' ' || c == '\t'):
			b[i] = '.'
		}
	}
	return string(b)
}

// Split splits an alias value (or a .forward or :include: line) into its
// addresses at commas outside quotes, angle brackets and parentheses,
// trimming blanks and dropping empty elements.
func Split(value string) []string {
	var out []string
	inq, depth, paren := false, 0, 0
	start := 0
	emit := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	for i := 0; i < len(value); i++ {
		switch c := value[i]; {
		case c == '\\' && i+1 < len(value):
			i++
		case c == '"':
			inq = !inq
		case inq:
		case c == '(':
			paren++
		case c == ')' && paren > 0:
			paren--
		case c == '<':
			depth++
		case c == '>' && depth > 0:
			depth--
		case (c == ',' || c == '\n') && depth == 0 && paren == 0:
			emit(value[start:i])
			start = i + 1
		}
	}
	emit(value[start:])
	return out
}
