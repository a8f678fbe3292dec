// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ListOptions tune List as the cf options and flags tune sendmail -bp.
// The zero value lists like a default sendmail.cf.
type ListOptions struct {
	// Verbose is -v: the priority column and the per-recipient status.
	Verbose bool
	// SortOrder is QueueSortOrder: "priority" (the default), "time",
	// "filename", "modification" or "none". Only the first letter
	// counts, as in sendmail.
	SortOrder string
	// MinQueueAge and MaxQueueAge mark entries too young to run with
	// "-", as the cf options of the same names do.
	MinQueueAge, MaxQueueAge time.Duration
	// QueueLA and QueueFactor decide the "X" marker (a job that a queue
	// run would skip at the current load average); 8 × the number of
	// CPUs and 600000 when zero, sendmail's defaults.
	QueueLA     int
	QueueFactor int64
	// LoadAverage returns the load average as sendmail rounds it;
	// /proc/loadavg when nil.
	LoadAverage func() int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Location is the zone of the Q-Time column (sendmail uses ctime(3),
	// the process's zone); time.Local when nil.
	Location *time.Location
	// Name is the queue directory as the listing names it (sendmail
	// prints QueueDirectory as written in the cf); the dir argument
	// when "".
	Name string
}

// Limits sendmail's listing inherits from its buffers.
const (
	maxQFName   = 21   // MAXQFNAME: longer qf names are skipped
	gatherLine  = 256  // MAXNAME: line buffer when sorting
	listLine    = 2047 // MAXLINE-1: line buffer when printing
	maxBodyType = 256  // MAXNAME: the B value kept for printing
)

// work is what the listing keeps per message before printing: a few
// words and the entry's text (a few hundred bytes), so 100,000 messages
// take some 40 MiB, as sendmail's work list is a few MiB.
type work struct {
	name     string
	pri      int64
	ctime    int64
	mtime    int64
	lock     bool
	tooyoung bool
	hasHost  bool
	host     string // reversed, lower-case domain of the first recipient
	out      string // the rendered entry, when the file was read whole
}

// List writes the listing `mailq` (sendmail -bp) prints for the queue in
// dir, byte for byte as sendmail 8.17 prints it, and returns the number
// of requests. Like sendmail it reads each control file twice, once to
// sort and once to print, and keeps only a small record per message in
// between.
func List(w io.Writer, dir string, o ListOptions) (int, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Name == "" {
		o.Name = dir
	}
	if o.QueueLA == 0 {
		o.QueueLA = 8 * runtime.NumCPU()
	}
	if o.QueueFactor == 0 {
		o.QueueFactor = 600000
	}
	if o.LoadAverage == nil {
		o.LoadAverage = procLoadAverage
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	n, err := list(bw, dir, &o)
	if err != nil {
		return n, err
	}
	fmt.Fprintf(bw, "\t\tTotal requests: %d\n", n)
	return n, bw.Flush()
}

func list(bw *bufio.Writer, dir string, o *ListOptions) (int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("gatherq: cannot open %q: %w", o.Name, err)
	}
	defer d.Close()
	// sendmail reads the load average after sorting; we need it while
	// reading, a moment earlier.
	la := o.LoadAverage()
	works, err := gather(bw, d, o, la)
	if err != nil {
		return 0, err
	}
	sortWork(works, o.SortOrder)
	if len(works) == 0 {
		fmt.Fprintf(bw, "%s is empty\n", o.Name)
		return 0, nil
	}
	fmt.Fprintf(bw, "\t\t%s (%d request%s", o.Name, len(works), plural(len(works)))
	if o.Verbose {
		bw.WriteString(")\n-----Q-ID----- --Size-- -Priority- ---Q-Time--- --------Sender/Recipient--------\n")
	} else {
		bw.WriteString(")\n-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n")
	}
	// Entries are rendered by a few workers a window at a time and
	// written in order; memory stays at one window of output.
	const window = 1024
	outs := make([]bytes.Buffer, window)
	dirfd := int(d.Fd())
	for base := 0; base < len(works); base += window {
		n := min(window, len(works)-base)
		parallel(n, func(lo, hi int) {
			p := printer{o: o, dir: dir, dirfd: dirfd, la: la, probe: -1}
			for i := lo; i < hi; i++ {
				outs[i].Reset()
				p.w = &outs[i]
				p.entry(&works[base+i])
			}
		})
		for i := 0; i < n; i++ {
			bw.Write(outs[i].Bytes())
		}
	}
	return len(works), nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// gather reads the directory like sendmail's gatherq: every regular
// file named qf*, with its priority, creation time and lock state read
// from the first lines unless the sort order does not need them. The
// directory is read in order; the files are read by a few workers, each
// result in its own slot, so the order stays the directory's.
func gather(bw *bufio.Writer, d *os.File, o *ListOptions, la int) ([]work, error) {
	dirfd := int(d.Fd())
	lazy := false
	switch firstLower(o.SortOrder) {
	case 'f', 'm', 'n', 'r':
		lazy = true
	}
	var works []work
	for {
		ents, rerr := d.ReadDir(readBatch)
		for _, e := range ents {
			name := e.Name()
			if !strings.HasPrefix(name, prefixQF) {
				continue
			}
			if len(name) >= maxQFName {
				if o.Verbose {
					fmt.Fprintf(bw, "gatherq: %s too long, %d max characters\n", name, maxQFName)
				}
				continue
			}
			// The directory entry's type spares a stat for the
			// common case; links and unknown types are stat'ed as
			// sendmail stats every entry.
			if !e.Type().IsRegular() {
				var st unix.Stat_t
				if err := unix.Fstatat(dirfd, name, &st, 0); err != nil {
					continue
				}
				if st.Mode&unix.S_IFMT != unix.S_IFREG {
					// A qf subdirectory is expected; anything else
					// is worth sendmail's complaint (a syserr, on
					// stdout).
					if name != prefixQF {
						fmt.Fprintf(bw, "gatherq: %s/%s is not a regular file\n", o.Name, name)
					}
					continue
				}
			}
			works = append(works, work{name: name})
		}
		if rerr == io.EOF || len(ents) == 0 {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("gatherq: read %q: %w", o.Name, rerr)
		}
	}
	now := o.Now().Unix()
	parallel(len(works), func(lo, hi int) {
		buf := make([]byte, 16<<10)
		p := printer{o: o, dir: d.Name(), dirfd: dirfd, la: la, probe: -1}
		for i := lo; i < hi; i++ {
			wk := &works[i]
			if lazy {
				var st unix.Stat_t
				if unix.Fstatat(dirfd, wk.name, &st, 0) == nil {
					wk.mtime = st.Mtim.Sec
				}
				continue
			}
			p.readWork(wk, now, buf)
		}
	})
	return works, nil
}

// parallel runs fn over [0, n) in chunks on up to GOMAXPROCS goroutines
// and waits for them: reading 100,000 small files is system calls, which
// two CPUs make twice as fast.
func parallel(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), 8)
	const chunk = 128
	if n < 2*chunk || workers < 2 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		}()
	}
	wg.Wait()
}

func firstLower(s string) byte {
	if s == "" {
		return 'p'
	}
	c := s[0]
	if c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}

// readWork reads one control file as gatherq does: a shared
// non-blocking flock probe (a "*" when it fails), then the P, T, K and N
// lines. A file that fits in buf (nearly all do) is read with one system
// call, and its entry is rendered right away into wk.out, so the print
// phase does not open it again.
func (p *printer) readWork(wk *work, now int64, buf []byte) {
	wk.pri = 0x7fffffff // jobs being created sort last
	fd, err := unix.Openat(p.dirfd, wk.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	wk.lock = unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) != nil
	// The lock is only a probe (sendmail closes the file before
	// printing); render releases it through p.probe if it needs the
	// exclusive lock for a missing df.
	if !wk.lock {
		p.probe = fd
		defer func() { p.probe = -1 }()
	}
	lr := lineReader{fd: fd, buf: buf}
	lr.fill()
	whole := lr.eof
	mem := lr // a second reader over the same bytes, for rendering
	p.workFields(&lr, wk, now)
	// With QueueSortOrder=host, sorting may mark more entries locked,
	// so they are rendered only once sorted.
	if !whole || firstLower(p.o.SortOrder) == 'h' {
		return
	}
	var b bytes.Buffer
	b.Grow(256)
	p.w = &b
	padLeft(&b, wk.name[2:], 13)
	p.render(wk, &mem)
	wk.out = b.String()
}

func (p *printer) workFields(lr *lineReader, wk *work, now int64) {
	o := p.o
	needP, needT, needH := true, true, firstLower(o.SortOrder) == 'h'
	for needP || needT || needH {
		line, ok := lr.next(gatherLine, true)
		if !ok {
			break
		}
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case 'P':
			wk.pri = atol(line[1:])
			needP = false
		case 'T':
			wk.ctime = atol(line[1:])
			needT = false
		case 'K':
			last := atol(line[1:])
			if o.MaxQueueAge > 0 {
				delay := min(last-wk.ctime, int64(o.MaxQueueAge/time.Second))
				if now-last < delay {
					wk.tooyoung = true
				}
				break
			}
			age := now - last
			if age >= 0 && o.MinQueueAge > 0 && age < int64(o.MinQueueAge/time.Second) {
				wk.tooyoung = true
			}
		case 'N':
			if atol(line[1:]) == 0 {
				wk.tooyoung = false
			}
		case 'R':
			if i := bytes.LastIndexByte(line[1:], '@'); needH && i >= 0 {
				wk.host = reverseLower(line[2+i:])
				wk.hasHost = true
				needH = false
			}
		}
	}
}

// reverseLower is sendmail's strrev of the domain, made lower case: hosts
// sort by their last label first.
func reverseLower(b []byte) string {
	r := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		r[len(b)-1-i] = c
	}
	return string(r)
}

// sortWork orders the list as sortq does. glibc's qsort is a stable
// merge sort for lists like these, so equal keys keep directory order.
func sortWork(works []work, order string) {
	var less func(a, b *work) bool
	switch firstLower(order) {
	case 'h':
		sortByHost(works)
		return
	case 'p':
		less = func(a, b *work) bool { return a.pri < b.pri }
	case 't':
		less = func(a, b *work) bool { return a.ctime < b.ctime }
	case 'f':
		less = func(a, b *work) bool { return a.name < b.name }
	case 'm':
		less = func(a, b *work) bool { return a.mtime < b.mtime }
	default:
		return
	}
	slices.SortStableFunc(works, func(a, b work) int {
		switch {
		case less(&a, &b):
			return -1
		case less(&b, &a):
			return 1
		}
		return 0
	})
}

// sortByHost is sortq's host order: sort by host, lock and priority;
// then every job to a host that has a locked job counts as locked; then
// sort by lock (unlocked first), host and priority.
func sortByHost(works []work) {
	hostCmp := func(a, b *work) int {
		switch {
		case a.hasHost && !b.hasHost:
			return 1
		case !a.hasHost && b.hasHost:
			return -1
		case a.hasHost && b.hasHost:
			return strings.Compare(a.host, b.host)
		}
		return 0
	}
	priCmp := func(a, b *work) int {
		switch {
		case a.pri > b.pri:
			return 1
		case a.pri < b.pri:
			return -1
		}
		return 0
	}
	lockVal := func(w *work) int {
		if w.lock {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(works, func(a, b work) int {
		if c := hostCmp(&a, &b); c != 0 {
			return c
		}
		if a.lock != b.lock {
			return lockVal(&b) - lockVal(&a)
		}
		return priCmp(&a, &b)
	})
	for i := 0; i < len(works); {
		if !works[i].lock {
			i++
			continue
		}
		w := &works[i]
		for i++; i < len(works); i++ {
			if works[i].hasHost != w.hasHost || works[i].host != w.host {
				break
			}
			works[i].lock = true
		}
	}
	slices.SortStableFunc(works, func(a, b work) int {
		if a.lock != b.lock {
			return lockVal(&a) - lockVal(&b)
		}
		if c := hostCmp(&a, &b); c != 0 {
			return c
		}
		return priCmp(&a, &b)
	})
}

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
	w     *bytes.Buffer
	o     *ListOptions
	dir   string
	dirfd int
	la    int
	probe int // a descriptor holding our shared probe lock, or -1
	buf   [4096]byte
}

func (p *printer) entry(wk *work) {
	if wk.out != "" {
		p.w.WriteString(wk.out)
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
