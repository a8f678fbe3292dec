// SPDX-License-Identifier: MIT

package mbox

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A cold parse reads a large mbox that is mostly not in the page cache with
// O_DIRECT: on the virtual machines this runs on, filling the page cache
// costs several times the CPU of the read itself (a 1.3 GB file: about
// 4.5 s of system time buffered against 0.2 s direct), and the parse reads
// every byte once anyway. Files that are small or mostly cached are read
// buffered as before.

const (
	directAlign = 4096
	directBuf   = 4 << 20
)

var (
	directMin         int64        = 32 << 20 // smaller files are read buffered
	directIgnoreCache bool                    // tests: read direct even when cached
	directOpens       atomic.Int64            // O_DIRECT scans started (for tests)
)

// directReader streams [pos, size) of a file opened with O_DIRECT. A
// goroutine reads the following aligned blocks while the parser works on
// the current one, so the disk and the CPU overlap. After any read error it
// falls back to buffered reads of the same file (some file systems accept
// the open but not the reads).
type directReader struct {
	f, fallback *os.File
	size        int64
	pos         int64  // file offset of the next byte Read returns
	data        []byte // unread bytes of the current block; data[0] is at pos
	cur         []byte // the current block's buffer, nil if none
	free        chan []byte
	out         chan directBlock
	stop        chan struct{}
	done        chan struct{}
	spare       []byte // buffer for buffered fallback reads
}

type directBlock struct {
	buf  []byte
	base int64
	n    int
	err  error
}

const directBufs = 3

// newDirectReader returns a reader for f positioned at off, or nil when f
// is better read buffered (small, mostly in the page cache, or O_DIRECT is
// not available).
func newDirectReader(f *os.File, off, size int64) *directReader {
	if size-off < directMin || !directIgnoreCache && cachedMostly(f, size) {
		return nil
	}
	df, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	var fst, dst unix.Stat_t
	if unix.Fstat(int(f.Fd()), &fst) != nil || unix.Fstat(int(df.Fd()), &dst) != nil || fst.Ino != dst.Ino || fst.Dev != dst.Dev {
		df.Close()
		return nil
	}
	d := &directReader{f: df, fallback: f, size: size, free: make(chan []byte, directBufs)}
	for range directBufs {
		raw := make([]byte, directBuf+directAlign)
		a := int(uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1))
		d.free <- raw[(directAlign-a)&(directAlign-1):][:directBuf]
	}
	d.reset(off)
	directOpens.Add(1)
	return d
}

// cachedMostly reports whether at least half of f's first size bytes are
// in the page cache (mincore over a mapping that is never touched).
func cachedMostly(f *os.File, size int64) bool {
	if size <= 0 || int64(int(size)) != size {
		return false
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return false
	}
	defer unix.Munmap(m)
	pg := int64(os.Getpagesize())
	vec := make([]byte, (size+pg-1)/pg)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return false
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return 2*n >= len(vec)
}

// reset makes the next Read start at off.
func (d *directReader) reset(off int64) {
	d.halt()
	d.pos = off
	d.data = nil
}

// halt stops the read-ahead goroutine and takes its buffers back.
func (d *directReader) halt() {
	if d.stop == nil {
		return
	}
	close(d.stop)
	<-d.done
	for {
		select {
		case b := <-d.out:
			d.free <- b.buf
			continue
		default:
		}
		break
	}
	if d.cur != nil {
		d.free <- d.cur
		d.cur = nil
	}
	d.stop, d.out, d.done = nil, nil, nil
}

// run reads aligned blocks from base on until the end, an error or stop.
func (d *directReader) run(base int64, stop <-chan struct{}, out chan<- directBlock, done chan<- struct{}) {
	defer close(done)
	for base < d.size {
		var b []byte
		select {
		case b = <-d.free:
		case <-stop:
			return
		}
		n, err := d.f.ReadAt(b, base)
		select {
		case out <- directBlock{buf: b, base: base, n: n, err: err}:
		case <-stop:
			d.free <- b
			return
		}
		if err != nil || n <= 0 || n%directAlign != 0 {
			return
		}
		base += int64(n)
	}
}

func (d *directReader) Read(p []byte) (int, error) {
	if d.pos >= d.size {
		return 0, io.EOF
	}
	if len(d.data) == 0 {
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, d.data)
	d.data = d.data[n:]
	d.pos += int64(n)
	return n, nil
}

// fill makes data the bytes from pos on of the next block.
func (d *directReader) fill() error {
	if d.f == nil {
		if d.spare == nil {
			d.spare = make([]byte, directBuf)
		}
		n, err := d.fallback.ReadAt(d.spare[:min(int64(len(d.spare)), d.size-d.pos)], d.pos)
		if n > 0 {
			d.data = d.spare[:n]
			return nil
		}
		if err == nil {
			err = io.EOF
		}
		return err
	}
	if d.cur != nil {
		d.free <- d.cur
		d.cur = nil
	}
	if d.stop == nil {
		d.stop, d.out, d.done = make(chan struct{}), make(chan directBlock, directBufs), make(chan struct{})
		go d.run(d.pos&^(directAlign-1), d.stop, d.out, d.done)
	}
	var b directBlock
	select {
	case b = <-d.out:
	case <-d.done:
		// The reader ended; take a block it may have sent before.
		select {
		case b = <-d.out:
		default:
			d.halt()
			return io.EOF
		}
	}
	d.cur = b.buf
	n := b.n
	if end := d.size - b.base; int64(n) > end {
		n = int(end)
	}
	skip := int(d.pos - b.base)
	if skip >= 0 && n > skip {
		d.data = b.buf[skip:n]
		return nil
	}
	if b.err == nil || b.err == io.EOF {
		// The file shrank under us: the end, as a buffered read sees it.
		d.halt()
		return io.EOF
	}
	// O_DIRECT refused: read the rest buffered.
	d.halt()
	d.f.Close()
	d.f = nil
	return d.fill()
}

// Close stops the read-ahead and releases the O_DIRECT descriptor.
func (d *directReader) Close() {
	d.halt()
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}
