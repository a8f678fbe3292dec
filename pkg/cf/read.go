// SPDX-License-Identifier: MIT

package cf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mailsuite/internal/safefile"
)

// Options tune Load and Parse. The zero value reads a cf as the real
// sendmail would on this host.
type Options struct {
	// Root is prepended to the paths of F (class file) lines, so that
	// tests can load "Fw/etc/mail/local-host-names" from a directory
	// tree of their own. Empty means "/".
	Root string
	// NoClassFiles skips reading the files of F lines.
	NoClassFiles bool
	// NoUserLookup skips resolving the user and group names of
	// DefaultUser, RunAsUser, TrustedUser and mailer U= fields in the
	// host's user database (sendmail reports unknown ones as errors).
	NoUserLookup bool
}

// Error is one problem found in a cf file, printed as sendmail prints it:
// "<file>: line <n>: <msg>".
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Msg)
}

// Load reads the cf file at path.
func Load(path string, opts Options) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path, opts)
}

// Parse reads a cf from r; name is the file name used in errors. It
// returns the Config even when there are errors, as sendmail goes on
// after reporting them; the error is then the errors joined, each an
// *Error.
func Parse(r io.Reader, name string, opts Options) (*Config, error) {
	p := &parser{file: name, opts: opts, cfg: newConfig(name)}
	if err := p.read(r); err != nil {
		return nil, err
	}
	p.finish()
	if len(p.errs) > 0 {
		return p.cfg, errors.Join(p.errs...)
	}
	return p.cfg, nil
}

type parser struct {
	file string
	opts Options
	cfg  *Config
	errs []error
	line int // line number of the current logical line (its last physical line)

	ruleset *Ruleset // current S, for R lines
}

func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, (&Error{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}).Error())
}

// read folds physical lines into logical ones (a line starting with a
// blank or tab continues the previous one, the newline kept) and hands
// each to parseLine, numbered with its last physical line as sendmail's
// fgetfolded counts.
func (p *parser) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var (
		cur     bytes.Buffer
		have    bool
		physNum int
	)
	flush := func() {
		if have {
			p.parseLine(cur.String())
		}
		cur.Reset()
		have = false
	}
	for sc.Scan() {
		physNum++
		l := strings.TrimSuffix(sc.Text(), "\r")
		if have && l != "" && (l[0] == ' ' || l[0] == '\t') {
			cur.WriteByte('\n')
			cur.WriteString(l)
			p.line = physNum
			continue
		}
		flush()
		cur.WriteString(l)
		have = true
		p.line = physNum
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", p.file, err)
	}
	flush()
	return nil
}

// parseLine interprets one logical line.
func (p *parser) parseLine(l string) {
	l = strings.TrimRight(l, " \t\n")
	if l == "" || l[0] == '#' {
		return
	}
	switch l[0] {
	case 'R':
		p.rule(l)
	case 'S':
		p.rulesetLine(l)
	case 'D':
		p.macroLine(l)
	case 'C':
		p.classLine(l)
	case 'F':
		p.fileClassLine(l)
	case 'K':
		p.mapLine(l)
	case 'O':
		p.optionLine(l)
	case 'M':
		p.mailerLine(l)
	case 'P':
		p.priorityLine(l)
	case 'T':
		for _, w := range strings.Fields(l[1:]) {
			p.cfg.TrustedUsers = append(p.cfg.TrustedUsers, w)
			p.cfg.addClass("t", w)
		}
	case 'H':
		p.headerLine(l)
	case 'V':
		p.versionLine(l)
	case 'E':
		p.cfg.Env = append(p.cfg.Env, strings.TrimLeft(l[1:], " \t"))
	case 'X':
		if d, ok := p.fieldsLine(l, "milter"); ok {
			p.cfg.Milters = append(p.cfg.Milters, d)
		}
	case 'Q':
		if d, ok := p.fieldsLine(l, "queue group"); ok {
			p.cfg.QueueGroups = append(p.cfg.QueueGroups, d)
		}
	default:
		// sendmail prints the line as it is, in quotes, newlines of a
		// folded line included (not Go-quoted).
		p.errorf("unknown configuration line \"%s\"", l)
	}
}

// classFile reads the words of an F line's file: each line not starting
// with "#" is matched against the scanf format ("%s": the first word;
// "%[^\#]": the text up to a "#") and the match is split into words.
func (p *parser) classFile(fc ClassFile) {
	path := fc.Path
	if p.opts.Root != "" {
		path = filepath.Join(p.opts.Root, path)
	}
	if msg := p.unsafeDirPath(path); msg != "" {
		if !fc.Optional {
			p.errorf("fileclass: cannot open '%s': %s", fc.Path, msg)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if fc.Optional {
			return
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.errorf("fileclass: cannot open '%s': %s", fc.Path, errText(err))
		return
	}
	stop := ""
	first := true
	if f := fc.Format; strings.HasPrefix(f, "%[^") && strings.HasSuffix(f, "]") {
		stop = strings.ReplaceAll(f[3:len(f)-1], `\`, "")
		first = false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if first {
			ws := strings.Fields(line)
			if len(ws) > 0 {
				p.cfg.addClass(fc.Class, ws[0])
			}
			continue
		}
		if i := strings.IndexAny(line, stop); i >= 0 {
			line = line[:i]
		}
		for _, w := range strings.Fields(line) {
			p.cfg.addClass(fc.Class, w)
		}
	}
}

// unsafeDirPath is the directory check sendmail's safefile makes before
// it reads a class file: every directory from the root (Options.Root
// when set) down to the file's own must not be world-writable (unless
// sticky and DontBlameSendmail has TrustStickyBit) nor group-writable
// (unless GroupWritableDirPathSafe); ClassFileInUnsafeDirPath turns the
// check off. It returns sendmail's message, or "" when the path is safe
// or a directory cannot be examined (the open then reports the error).
func (p *parser) unsafeDirPath(path string) string {
	f := safefile.NewFlags(p.cfg.DontBlameSendmail)
	if f.Has("classfileinunsafedirpath") {
		return ""
	}
	return safefile.UnsafeDir(filepath.Dir(filepath.Clean(path)), p.opts.Root, f)
}

// errText is strerror's wording for the common errors.
func errText(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
