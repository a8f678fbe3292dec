// SPDX-License-Identifier: MIT

package mc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Options configures an Engine. The zero value reads included files from
// the file system and writes diagnostics to os.Stderr.
type Options struct {
	// Stderr receives warnings, errors and errprint text (default os.Stderr).
	Stderr io.Writer
	// IncludeDirs are searched, after the current directory, for relative
	// include and sinclude names, like m4 -I.
	IncludeDirs []string
	// Open resolves include/sinclude names; nil means os.Open relative to
	// the current directory and then IncludeDirs. It must return an error
	// wrapping fs.ErrNotExist for a missing file.
	Open func(name string) (io.ReadCloser, error)
	// MaxDepth limits macro nesting (m4 -L); 0 means 1024. GNU m4 itself
	// is unlimited by default, which lets a runaway input exhaust memory.
	MaxDepth int
	// MaxOutput bounds the bytes an input may produce (output, diversions,
	// collected arguments and expansion text, counted cumulatively); 0
	// means 256 MiB.
	MaxOutput int64
	// MaxSteps bounds the number of macro calls, so that an endless loop
	// (which GNU m4 would run forever) stops with an error; 0 means one
	// million (Debian's sendmail.mc needs about 3200).
	MaxSteps int
}

// Builtin implements a macro in Go. args[0] is the macro name, args[1:]
// the collected arguments; the result is rescanned like a macro expansion.
// A non-nil error is reported as "m4:<file>:<line>: <err>" and counted.
type Builtin func(e *Engine, args []string) (string, error)

// Engine is a GNU m4 1.4 interpreter for the subset that sendmail.mc files
// and the sendmail-cf macro package use. It is not safe for concurrent use.
type Engine struct {
	stderr    io.Writer
	incDirs   []string
	open      func(name string) (io.ReadCloser, error)
	maxDepth  int
	maxOutput int64
	maxSteps  int
	steps     int

	syms map[string][]*symbol

	lquote, rquote string
	bcomm, ecomm   string

	input       []*inputBlock
	inputChange bool
	file        string
	line        int

	cur   int
	divs  map[int]*strings.Builder
	out   *bufio.Writer
	wraps []wrapText

	depth    int
	produced int64
	errors   int
	exit     int
	stopped  bool
}

type symbol struct {
	text string
	bi   *builtinDef
}

type builtinDef struct {
	name  string
	blind bool // recognised only when followed by "("
	fn    func(e *Engine, c *call) string
	ext   Builtin
}

type call struct {
	name string
	args []string      // args[0] is the name
	defs []*builtinDef // defs[i] != nil when argument i is exactly a builtin's defn
}

type inputBlock struct {
	text   string
	pos    int
	isFile bool
	file   string
	line   int
	bol    bool        // file block: the next character starts a new line
	def    *builtinDef // a defn token that has not been read yet
}

// fatalError stops processing, as m4 exits on it.
// wrapText is m4wrap text and where m4wrap was called, which is where
// GNU m4 reports it being read.
type wrapText struct {
	text, file string
	line       int
}

type fatalError struct{ status int }

func (f *fatalError) Error() string { return fmt.Sprintf("m4: exit status %d", f.status) }

// NewEngine returns an engine with GNU m4's builtins and default quotes
// (` and ') and comments (# to newline).
func NewEngine(opts Options) *Engine {
	e := &Engine{
		stderr:    opts.Stderr,
		incDirs:   opts.IncludeDirs,
		open:      opts.Open,
		maxDepth:  opts.MaxDepth,
		maxOutput: opts.MaxOutput,
		maxSteps:  opts.MaxSteps,
		syms:      map[string][]*symbol{},
		lquote:    "`",
		rquote:    "'",
		bcomm:     "#",
		ecomm:     "\n",
		divs:      map[int]*strings.Builder{},
	}
	if e.stderr == nil {
		e.stderr = os.Stderr
	}
	if e.maxDepth <= 0 {
		e.maxDepth = 1024
	}
	if e.maxOutput <= 0 {
		e.maxOutput = 256 << 20
	}
	if e.maxSteps <= 0 {
		e.maxSteps = 1_000_000
	}
	for _, b := range builtinTable {
		e.syms[b.name] = []*symbol{{bi: b}}
	}
	e.syms["__gnu__"] = []*symbol{{}}
	e.syms["__unix__"] = []*symbol{{}}
	return e
}

// Define defines name as text, replacing its current definition (like
// define, or m4 -Dname=text).
func (e *Engine) Define(name, text string) { e.setSym(name, &symbol{text: text}, false) }

// Undefine removes every definition of name (like undefine, or m4 -U).
func (e *Engine) Undefine(name string) { delete(e.syms, name) }

// Lookup returns the current user definition of name. ok is false when
// name is undefined or a builtin.
func (e *Engine) Lookup(name string) (text string, ok bool) {
	s := e.lookup(name)
	if s == nil || s.bi != nil {
		return "", false
	}
	return s.text, true
}

// SetBuiltin defines name as a Go builtin, replacing any definition. The
// macro is recognised with or without arguments.
func (e *Engine) SetBuiltin(name string, fn Builtin) {
	e.setSym(name, &symbol{bi: &builtinDef{name: name, ext: fn}}, false)
}

// File returns the name of the input file being read, as __file__ does.
func (e *Engine) File() string { return e.file }

// Line returns the current input line, as __line__ does.
func (e *Engine) Line() int { return e.line }

// ErrorCount returns the number of errors reported so far that make m4
// exit 1. Warnings, and the messages GNU m4 prints without changing its
// exit status (such as "non-numeric argument"), are not counted.
func (e *Engine) ErrorCount() int { return e.errors }

// ExitStatus returns the status m4 would exit with: the m4exit argument
// if m4exit was called, else 1 after errors, else 0.
func (e *Engine) ExitStatus() int {
	if e.exit != 0 {
		return e.exit
	}
	if e.errors > 0 {
		return 1
	}
	return 0
}

// Diversion returns the current contents of diversion n (n >= 1). Text
// for diversion 0 is not kept: it goes straight to Process's writer.
func (e *Engine) Diversion(n int) string {
	if d := e.divs[n]; d != nil {
		return d.String()
	}
	return ""
}

// Process reads r (named name in messages and __file__; m4 calls
// standard input "stdin") to its end,
// writing diversion 0 to out. At the end of input it runs the m4wrap
// text and then appends all diversions to out in numeric order, like m4
// does at exit. The error is non-nil after a fatal error (reported on
// Stderr) or m4exit with a non-zero status; ExitStatus gives the status.
func (e *Engine) Process(name string, r io.Reader, out io.Writer) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	e.out = bufio.NewWriterSize(out, 64<<10)
	defer e.out.Flush()
	e.input = e.input[:0]
	e.stopped = false
	e.pushFile(name, string(data))
	err = e.run()
	if err == nil && !e.stopped {
		for len(e.wraps) > 0 && err == nil && !e.stopped {
			w := e.wraps
			e.wraps = nil
			// GNU m4 1.4 reads m4wrap text in reverse order of the calls.
			for i := range w {
				e.pushWrap(w[i])
			}
			err = e.run()
		}
	}
	if err == nil && (!e.stopped || e.exit == 0) {
		e.undivertAll()
	}
	if ferr := e.out.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	var fe *fatalError
	if errors.As(err, &fe) && fe.status == 0 {
		err = nil // m4exit(0)
	}
	return err
}

func (e *Engine) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(*fatalError)
			if !ok {
				panic(r)
			}
			e.exit = f.status
			err = f
		}
	}()
	for !e.stopped {
		t := e.nextToken()
		if t.kind == tokEOF {
			break
		}
		e.expandToken(t, nil)
	}
	return nil
}

func (e *Engine) lookup(name string) *symbol {
	if st := e.syms[name]; len(st) > 0 {
		return st[len(st)-1]
	}
	return nil
}

func (e *Engine) setSym(name string, s *symbol, push bool) {
	st := e.syms[name]
	if push || len(st) == 0 {
		e.syms[name] = append(st, s)
		return
	}
	st[len(st)-1] = s
}

// ---- diagnostics ----

func (e *Engine) msg(text string) {
	fmt.Fprintf(e.stderr, "m4:%s:%d: %s\n", e.file, e.line, text)
}

func (e *Engine) warnf(format string, a ...any) {
	e.msg("Warning: " + fmt.Sprintf(format, a...))
}

func (e *Engine) errorf(format string, a ...any) {
	e.errors++
	e.msg(fmt.Sprintf(format, a...))
}

func (e *Engine) fatalf(format string, a ...any) {
	e.errors++
	e.out.Flush()
	e.msg(fmt.Sprintf(format, a...))
	panic(&fatalError{status: 1})
}

// ---- output ----

func (e *Engine) grow(n int) {
	e.produced += int64(n)
	if e.produced > e.maxOutput {
		e.fatalf("output limit of %d bytes exceeded", e.maxOutput)
	}
}

func (e *Engine) emit(s string) {
	if s == "" || e.cur < 0 {
		return
	}
	e.grow(len(s))
	if e.cur == 0 {
		e.out.WriteString(s)
		return
	}
	d := e.divs[e.cur]
	if d == nil {
		d = &strings.Builder{}
		e.divs[e.cur] = d
	}
	d.WriteString(s)
}

func (e *Engine) undivertAll() {
	keys := make([]int, 0, len(e.divs))
	for k := range e.divs {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if d := e.divs[k]; d != nil {
			e.out.WriteString(d.String())
		}
		delete(e.divs, k)
	}
}

// ---- input ----

func (e *Engine) pushFile(name, text string) {
	e.input = append(e.input, &inputBlock{text: text, isFile: true, file: name, line: 1})
	e.inputChange = true
}

// dropSpent pops exhausted expansion blocks, so that tail recursion does
// not grow the input stack.
func (e *Engine) dropSpent() {
	for len(e.input) > 0 {
		b := e.input[len(e.input)-1]
		if b.isFile || b.def != nil || b.pos < len(b.text) {
			return
		}
		e.popInput()
	}
}

func (e *Engine) pushString(s string) {
	if s == "" {
		return
	}
	e.grow(len(s))
	e.dropSpent()
	e.input = append(e.input, &inputBlock{text: s, file: e.file, line: e.line})
	e.inputChange = true
}

func (e *Engine) pushWrap(w wrapText) {
	e.grow(len(w.text))
	e.input = append(e.input, &inputBlock{text: w.text, file: w.file, line: w.line})
	e.inputChange = true
}

func (e *Engine) pushDef(b *builtinDef) {
	e.input = append(e.input, &inputBlock{def: b, file: e.file, line: e.line})
	e.inputChange = true
}

const eof = -1

// peek returns the next byte without consuming it, or eof; -2 marks a
// pending builtin token.
func (e *Engine) peek() int {
	for i := len(e.input) - 1; i >= 0; i-- {
		b := e.input[i]
		if b.def != nil {
			return -2
		}
		if b.pos < len(b.text) {
			return int(b.text[b.pos])
		}
	}
	return eof
}

// next consumes one byte. It never consumes a builtin token.
func (e *Engine) next() int {
	for len(e.input) > 0 {
		b := e.input[len(e.input)-1]
		if e.inputChange {
			e.file, e.line = b.file, b.line
			e.inputChange = false
		}
		if b.def != nil {
			return -2
		}
		if b.pos < len(b.text) {
			if b.isFile && b.bol {
				b.line++
				e.line = b.line
				b.bol = false
			}
			c := b.text[b.pos]
			b.pos++
			if b.isFile && c == '\n' {
				b.bol = true
			}
			return int(c)
		}
		e.popInput()
	}
	return eof
}

func (e *Engine) popInput() {
	e.input[len(e.input)-1] = nil
	e.input = e.input[:len(e.input)-1]
	e.inputChange = true
}

// peekString reports whether the input continues with s, consuming
// nothing.
func (e *Engine) peekString(s string) bool {
	i := len(e.input) - 1
	pos := -1
	for k := 0; k < len(s); k++ {
		for {
			if i < 0 {
				return false
			}
			b := e.input[i]
			if b.def != nil {
				return false
			}
			if pos < 0 {
				pos = b.pos
			}
			if pos < len(b.text) {
				break
			}
			i--
			pos = -1
		}
		if e.input[i].text[pos] != s[k] {
			return false
		}
		pos++
	}
	return true
}

// peekOpen reports whether the next token is an opening parenthesis: a
// "(" that starts a comment or a quoted string does not open arguments.
func (e *Engine) peekOpen() bool {
	if e.peek() != '(' {
		return false
	}
	if e.bcomm != "" && e.peekString(e.bcomm) {
		return false
	}
	if e.lquote != "" && e.peekString(e.lquote) {
		return false
	}
	return true
}

// lookingAt reports whether the input continues with s after the byte
// just consumed, which must equal s[0]; if so the rest is consumed.
func (e *Engine) lookingAt(s string) bool {
	if !e.peekString(s[1:]) {
		return false
	}
	for range s[1:] {
		e.next()
	}
	return true
}

// ---- tokens ----

type tokKind int

const (
	tokEOF tokKind = iota
	tokString
	tokWord
	tokOpen
	tokComma
	tokClose
	tokSimple
	tokDef
)

type token struct {
	kind tokKind
	text string
	def  *builtinDef
}

func isWordStart(c int) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isWordChar(c int) bool { return isWordStart(c) || (c >= '0' && c <= '9') }

func isSpace(c int) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func (e *Engine) nextToken() token {
	c := e.next()
	switch {
	case c == eof:
		return token{kind: tokEOF}
	case c == -2:
		b := e.input[len(e.input)-1]
		d := b.def
		e.popInput()
		return token{kind: tokDef, def: d}
	}
	if e.bcomm != "" && byte(c) == e.bcomm[0] && e.lookingAt(e.bcomm) {
		file, line := e.file, e.line
		var sb strings.Builder
		sb.WriteString(e.bcomm)
		for {
			c = e.next()
			if c < 0 {
				e.file, e.line = file, line
				e.fatalf("ERROR: end of file in comment")
			}
			if byte(c) == e.ecomm[0] && e.lookingAt(e.ecomm) {
				sb.WriteString(e.ecomm)
				break
			}
			sb.WriteByte(byte(c))
		}
		return token{kind: tokString, text: sb.String()}
	}
	if isWordStart(c) {
		var sb strings.Builder
		sb.WriteByte(byte(c))
		for isWordChar(e.peek()) {
			sb.WriteByte(byte(e.next()))
		}
		return token{kind: tokWord, text: sb.String()}
	}
	if e.lquote != "" && byte(c) == e.lquote[0] && e.lookingAt(e.lquote) {
		file, line := e.file, e.line
		var sb strings.Builder
		level := 1
		for {
			c = e.next()
			if c < 0 {
				e.file, e.line = file, line
				e.fatalf("ERROR: end of file in string")
			}
			if byte(c) == e.rquote[0] && e.lookingAt(e.rquote) {
				level--
				if level == 0 {
					break
				}
				sb.WriteString(e.rquote)
			} else if byte(c) == e.lquote[0] && e.lookingAt(e.lquote) {
				level++
				sb.WriteString(e.lquote)
			} else {
				sb.WriteByte(byte(c))
			}
		}
		return token{kind: tokString, text: sb.String()}
	}
	s := string(rune(c))
	if c >= 0x80 {
		s = string([]byte{byte(c)})
	}
	switch c {
	case '(':
		return token{kind: tokOpen, text: s}
	case ',':
		return token{kind: tokComma, text: s}
	case ')':
		return token{kind: tokClose, text: s}
	}
	return token{kind: tokSimple, text: s}
}

// expandToken outputs or expands t; with sb non-nil the text goes there
// (argument collection) instead of the current diversion.
func (e *Engine) expandToken(t token, sb *strings.Builder) {
	if t.kind == tokWord {
		if s := e.lookup(t.text); s != nil && !(s.bi != nil && s.bi.blind && !e.peekOpen()) {
			e.expandMacro(t.text, s)
			return
		}
	}
	if t.kind == tokDef {
		return
	}
	if sb != nil {
		e.grow(len(t.text))
		sb.WriteString(t.text)
		return
	}
	e.emit(t.text)
}

func (e *Engine) expandMacro(name string, s *symbol) {
	e.depth++
	e.steps++
	if e.steps > e.maxSteps {
		e.fatalf("expansion limit of %d macro calls exceeded", e.maxSteps)
	}
	if e.depth > e.maxDepth {
		e.fatalf("recursion limit of %d exceeded, use -L<N> to change it", e.maxDepth)
	}
	openFile, openLine := e.file, e.line
	c := &call{name: name, args: []string{name}, defs: []*builtinDef{nil}}
	if e.peekOpen() {
		e.next()
		e.collectArgs(c)
	}
	closeFile, closeLine := e.file, e.line
	e.file, e.line = openFile, openLine
	var result string
	if s.bi != nil {
		result = e.callBuiltin(s.bi, c)
	} else {
		result = e.expandBody(s.text, c.args)
	}
	e.pushString(result)
	if !e.inputChange {
		e.file, e.line = closeFile, closeLine
	}
	e.depth--
}

func (e *Engine) collectArgs(c *call) {
	for {
		// GNU m4 reports an unterminated call where its current
		// argument began.
		file, line := e.file, e.line
		var sb strings.Builder
		var def *builtinDef
		t := e.nextToken()
		for t.kind == tokSimple && isSpace(int(t.text[0])) {
			t = e.nextToken()
		}
		level := 0
		done := false
		for {
			switch t.kind {
			case tokEOF:
				e.file, e.line = file, line
				e.fatalf("ERROR: end of file in argument list")
			case tokComma:
				if level == 0 {
					goto next
				}
			case tokClose:
				if level == 0 {
					done = true
					goto next
				}
				level--
			case tokOpen:
				level++
			case tokDef:
				if sb.Len() == 0 && def == nil {
					def = t.def
				}
				t = e.nextToken()
				continue
			}
			e.expandToken(t, &sb)
			t = e.nextToken()
		}
	next:
		// As in GNU m4, an argument that starts with a builtin's defn is
		// that builtin; text after it is dropped.
		arg := sb.String()
		if def != nil {
			arg = ""
		}
		c.args = append(c.args, arg)
		c.defs = append(c.defs, def)
		if done {
			return
		}
	}
}

// expandBody substitutes $0-$9, $#, $* and $@ in a user macro's text.
func (e *Engine) expandBody(text string, args []string) string {
	if !strings.Contains(text, "$") {
		return text
	}
	var sb strings.Builder
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c != '$' || i+1 >= len(text) {
			sb.WriteByte(c)
			continue
		}
		n := text[i+1]
		switch {
		case n >= '0' && n <= '9':
			// GNU m4 1.4 reads every digit: $10 is the tenth argument.
			j := i + 1
			k := 0
			for j < len(text) && text[j] >= '0' && text[j] <= '9' {
				if k < 1<<20 {
					k = k*10 + int(text[j]-'0')
				}
				j++
			}
			if k < len(args) {
				sb.WriteString(args[k])
			}
			i = j - 1
		case n == '#':
			fmt.Fprintf(&sb, "%d", len(args)-1)
			i++
		case n == '*' || n == '@':
			if int64(sb.Len()) > e.maxOutput {
				e.fatalf("output limit of %d bytes exceeded", e.maxOutput)
			}
			for k := 1; k < len(args); k++ {
				if k > 1 {
					sb.WriteByte(',')
				}
				if n == '@' {
					sb.WriteString(e.lquote + args[k] + e.rquote)
				} else {
					sb.WriteString(args[k])
				}
			}
			i++
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// ---- include ----

func (e *Engine) openFile(name string) (io.ReadCloser, string, error) {
	if e.open != nil {
		rc, err := e.open(name)
		return rc, name, err
	}
	f, err := openRegular(name)
	if err == nil {
		return f, name, nil
	}
	if !filepath.IsAbs(name) && errors.Is(err, fs.ErrNotExist) {
		for _, d := range e.incDirs {
			p := filepath.Join(d, name)
			if f2, err2 := openRegular(p); err2 == nil {
				return f2, p, nil
			}
		}
	}
	return nil, name, err
}

// openRegular opens a file for reading, failing like open(2) plus read(2)
// would on a directory.
func openRegular(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	return f, nil
}

// errnoText renders err like strerror, as m4 prints it.
func errnoText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "Permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	s := err.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// msgf reports an error that, as in GNU m4, does not change the exit
// status.
func (e *Engine) msgf(format string, a ...any) { e.msg(fmt.Sprintf(format, a...)) }
