// SPDX-License-Identifier: MIT

package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	out      []byte // the rendered entry, when the file was read whole
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
	outs := make([]arenaWriter, window)
	dirfd := int(d.Fd())
	for base := 0; base < len(works); base += window {
		n := min(window, len(works)-base)
		parallel(n, func(lo, hi int) {
			p := printer{o: o, dir: dir, dirfd: dirfd, la: la, probe: -1}
			for i := lo; i < hi; i++ {
				outs[i].b = outs[i].b[:0]
				p.w = &outs[i]
				p.entry(&works[base+i])
			}
		})
		for i := 0; i < n; i++ {
			bw.Write(outs[i].b)
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
	// Names first, then one allocation for the records: growing a
	// slice of records entry by entry copies them over and over.
	var names []string
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
			names = append(names, name)
		}
		if rerr == io.EOF || len(ents) == 0 {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("gatherq: read %q: %w", o.Name, rerr)
		}
	}
	works := make([]work, len(names))
	for i, name := range names {
		works[i].name = name
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
	// Entries are rendered one after the other into the worker's arena
	// and keep slices of it: one allocation per few hundred entries.
	if p.arena == nil || cap(p.arena.b)-len(p.arena.b) < 1024 {
		p.arena = &arenaWriter{b: make([]byte, 0, 64<<10)}
	}
	start := len(p.arena.b)
	p.w = p.arena
	padLeft(p.w, wk.name[2:], 13)
	p.render(wk, &mem)
	wk.out = p.arena.b[start:len(p.arena.b):len(p.arena.b)]
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
	// A stable order by sorting indices with the index as the last key:
	// moving the records around in a stable merge costs more than the
	// whole listing.
	idx := make([]int32, len(works))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		switch {
		case less(&works[a], &works[b]):
			return -1
		case less(&works[b], &works[a]):
			return 1
		}
		return int(a - b)
	})
	sorted := make([]work, len(works))
	for i, j := range idx {
		sorted[i] = works[j]
	}
	copy(works, sorted)
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
