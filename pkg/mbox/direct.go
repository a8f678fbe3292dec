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

// directReader streams [pos, size) of a file opened with O_DIRECT through
// an aligned buffer. After any read error it falls back to buffered reads
// of the same file (some file systems accept the open but not the reads).
type directReader struct {
	f, fallback *os.File
	size        int64
	pos         int64 // file offset of the next byte Read returns
	raw         []byte
	buf         []byte // aligned, directBuf bytes
	data        []byte // unread bytes of buf; data[0] is at pos
}

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
	d := &directReader{f: df, fallback: f, size: size, raw: make([]byte, directBuf+directAlign)}
	a := int(uintptr(unsafe.Pointer(&d.raw[0])) & (directAlign - 1))
	d.buf = d.raw[(directAlign-a)&(directAlign-1):][:directBuf]
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
	d.pos = off
	d.data = nil
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

// fill reads the aligned block holding pos.
func (d *directReader) fill() error {
	if d.f == nil {
		n, err := d.fallback.ReadAt(d.buf[:min(int64(len(d.buf)), d.size-d.pos)], d.pos)
		if n > 0 {
			d.data = d.buf[:n]
			return nil
		}
		if err == nil {
			err = io.EOF
		}
		return err
	}
	base := d.pos &^ (directAlign - 1)
	n, err := d.f.ReadAt(d.buf, base)
	if end := d.size - base; int64(n) > end {
		n = int(end)
	}
	skip := int(d.pos - base)
	if n > skip {
		d.data = d.buf[skip:n]
		return nil
	}
	if err == nil || err == io.EOF {
		// The file shrank under us: the end, as a buffered read sees it.
		return io.EOF
	}
	// O_DIRECT refused: read the rest buffered.
	d.f.Close()
	d.f = nil
	return d.fill()
}

// Close releases the O_DIRECT descriptor.
func (d *directReader) Close() {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}
