// SPDX-License-Identifier: MIT

package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lineReader reads a file the way sm_io_fgets does with a fixed buffer:
// at most max bytes per call, the rest of a longer line coming back as
// the next "line" (or, with flush, skipped as gatherq skips it).
type lineReader struct {
	fd   int
	buf  []byte
	r, w int
	eof  bool
}

func (l *lineReader) fill() bool {
	if l.eof {
		return false
	}
	if l.r > 0 {
		copy(l.buf, l.buf[l.r:l.w])
		l.w -= l.r
		l.r = 0
	}
	room := len(l.buf) - l.w
	n, err := unix.Read(l.fd, l.buf[l.w:])
	if n <= 0 || err != nil {
		l.eof = true
		return false
	}
	l.w += n
	// A short read of a regular file is its end: queue files are
	// replaced by rename, never appended to, so asking again would
	// only cost a system call per file.
	if n < room {
		l.eof = true
	}
	return true
}

// next returns the next line without its "\n" (and a CR before it),
// reading at most max bytes; the buffer must be larger than max.
func (l *lineReader) next(max int, flush bool) ([]byte, bool) {
	for {
		avail := l.buf[l.r:l.w]
		lim := min(len(avail), max)
		if i := indexByte(avail[:lim], '\n'); i >= 0 {
			l.r += i + 1
			return trimCR(avail[:i]), true
		}
		if lim == max || !l.fill() {
			break
		}
	}
	avail := l.buf[l.r:l.w]
	if len(avail) == 0 {
		return nil, false
	}
	lim := min(len(avail), max)
	line := avail[:lim]
	l.r += lim
	if flush && lim == max {
		for {
			if i := indexByte(l.buf[l.r:l.w], '\n'); i >= 0 {
				l.r += i + 1
				break
			}
			l.r = l.w
			if !l.fill() {
				break
			}
		}
	}
	return line, true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// printer writes one entry as print_single_queue does.
type printer struct {
	w     *arenaWriter
	arena *arenaWriter
	o     *ListOptions
	dir   string
	dirfd int
	la    int
	probe int // a descriptor holding our shared probe lock, or -1
	buf   [4096]byte
}

func (p *printer) entry(wk *work) {
	if wk.out != nil {
		p.w.Write(wk.out)
		return
	}
	w := p.w
	padLeft(w, wk.name[2:], 13)
	fd, err := unix.Openat(p.dirfd, wk.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.EPERM):
			w.WriteString(" (permission denied)\n")
		case errors.Is(err, unix.ENOENT):
			w.WriteString(" (job completed)\n")
		default:
			fmt.Fprintf(w, " (%s)\n", strerror(err))
		}
		return
	}
	defer unix.Close(fd)
	p.render(wk, &lineReader{fd: fd, buf: p.buf[:]})
}

// render prints an entry after its queue id, reading the control file
// from lr.
func (p *printer) render(wk *work, lr *lineReader) {
	w := p.w
	id := wk.name[2:]
	dfsize := int64(-1)
	var st unix.Stat_t
	if unix.Fstatat(p.dirfd, prefixDF+id, &st, 0) == nil {
		dfsize = st.Size
	} else {
		dfsize = p.missingDF(id)
	}
	switch {
	case wk.lock:
		w.WriteByte('*')
	case wk.tooyoung:
		w.WriteByte('-')
	case p.shouldQueue(wk.pri):
		w.WriteByte('X')
	default:
		w.WriteByte(' ')
	}
	var (
		submit   int64
		warning  bool
		qfver    int
		statmsg  string
		quarmsg  string
		bodytype string
	)
	prec := 60
	if p.o.Verbose {
		prec = 100
	}
	for {
		line, ok := lr.next(listLine, false)
		if !ok {
			break
		}
		if len(line) == 0 {
			continue
		}
		arg := line[1:]
		switch line[0] {
		case 'V':
			qfver = int(atol(arg))
		case 'M':
			statmsg = string(arg)
		case 'q':
			quarmsg = string(arg)
		case 'B':
			if len(arg) > maxBodyType {
				arg = arg[:maxBodyType]
			}
			bodytype = string(arg)
		case 'S':
			t := ctime(submit, p.o.Location)
			if p.o.Verbose {
				mark := byte(' ')
				if warning {
					mark = '+'
				}
				fmt.Fprintf(w, "%8d %10d%c%.12s ", dfsize, wk.pri, mark, t[4:])
				prtstr(w, arg, 78)
			} else {
				fmt.Fprintf(w, "%8d %.16s ", dfsize, t)
				prtstr(w, arg, 39)
			}
			if quarmsg != "" {
				w.WriteString("\n     QUARANTINE: " + cut(quarmsg, prec))
				quarmsg = ""
			}
			if statmsg != "" || bodytype != "" {
				w.WriteString("\n    ")
				padLeft(w, cut(bodytype, 10), 10)
				if statmsg != "" {
					fmt.Fprintf(w, "   (%s)", cut(statmsg, prec))
				}
				statmsg = ""
			}
		case 'C':
			if p.o.Verbose {
				fmt.Fprintf(w, "\n\t\t\t\t\t\t(---%s---)", cut(string(arg), 64))
			}
		case 'R':
			addr := arg
			if qfver >= 1 {
				i := bytes.IndexByte(addr, ':')
				if i < 0 {
					break
				}
				addr = addr[i+1:]
			}
			if p.o.Verbose {
				w.WriteString("\n\t\t\t\t\t\t")
				prtstr(w, addr, 71)
			} else {
				w.WriteString("\n\t\t\t\t\t ")
				prtstr(w, addr, 38)
			}
			if p.o.Verbose && statmsg != "" {
				fmt.Fprintf(w, "\n\t\t (%s)", cut(statmsg, 100))
				statmsg = ""
			}
		case 'T':
			submit = atol(arg)
		case 'F':
			if bytes.IndexByte(arg, 'w') >= 0 {
				warning = true
			}
		}
	}
	if submit == 0 {
		w.WriteString(" (no control file)")
	}
	w.WriteByte('\n')
}

// missingDF is what sendmail does when the df cannot be stat'ed: it
// reads the whole qf (which names the df's directory when it is not the
// qf's), and its readqf complains on stdout when the df is not there.
func (p *printer) missingDF(id string) int64 {
	if p.probe >= 0 {
		unix.Flock(p.probe, unix.LOCK_UN)
	}
	f, err := os.OpenFile(filepath.Join(p.dir, prefixQF+id), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return -1
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		if p.o.Verbose {
			fmt.Fprintf(p.w, "%s: locked\n", id)
		}
		return -1
	}
	env, err := ReadEnvelope(f)
	if err != nil {
		return -1
	}
	df := "./" + prefixDF + id
	if env.DataDir != "" {
		df = env.DataDir + "/" + prefixDF + id
	}
	fi, err := os.Stat(filepath.Join(p.dir, df))
	if err != nil {
		fmt.Fprintf(p.w, "readqf: cannot open %s: %s\n", df, strerror(err))
		return -1
	}
	return fi.Size()
}

func (p *printer) shouldQueue(pri int64) bool {
	if p.la < p.o.QueueLA {
		return false
	}
	return pri > p.o.QueueFactor/int64(p.la-p.o.QueueLA+1)
}

// arenaWriter appends to a byte slice.
type arenaWriter struct{ b []byte }

func (a *arenaWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

func (a *arenaWriter) WriteByte(c byte) error {
	a.b = append(a.b, c)
	return nil
}

func (a *arenaWriter) WriteString(s string) (int, error) {
	a.b = append(a.b, s...)
	return len(s), nil
}

// byteWriter is what the listing writes to (bufio.Writer, bytes.Buffer).
type byteWriter interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
}

// padLeft is printf's "%*s" counting bytes, as C does.
func padLeft(w byteWriter, s string, width int) {
	for i := len(s); i < width; i++ {
		w.WriteByte(' ')
	}
	w.WriteString(s)
}

// cut is printf's "%.*s": at most n bytes.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// prtstr prints s as sendmail's prtstr does: at most ml columns, a
// backslash doubled, anything not printable ASCII as \ooo (when it still
// fits).
func prtstr[T string | []byte](w byteWriter, s T, ml int) {
	for i := 0; ml > 0 && i < len(s); i++ {
		ml--
		c := s[i]
		switch {
		case c == '\\':
			if ml > 0 {
				ml--
				w.WriteString(`\\`)
			} else {
				ml--
			}
		case c >= ' ' && c < 0x7f:
			w.WriteByte(c)
		default:
			ml -= 3
			if ml > 0 {
				fmt.Fprintf(w, "\\%03o", c)
			}
		}
	}
}

// ctime formats t like ctime(3) without the newline:
// "Fri Nov 27 03:10:44 2026".
func ctime(t int64, loc *time.Location) string {
	return time.Unix(t, 0).In(loc).Format("Mon Jan _2 15:04:05 2006")
}

// strerror gives the C library's text for the errno inside err.
func strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "No such file or directory"
	}
	return err.Error()
}

// procLoadAverage is sendmail's getla on Linux: the one-minute load
// average of /proc/loadavg, rounded to the nearest integer.
func procLoadAverage() int {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return 0
	}
	return int(v + 0.5)
}
