// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestWriteMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		lines int64
		want  string
	}{
		{"lf", "A: b\n\nbody\n", -1, "A: b\r\n\r\nbody\r\n"},
		{"crlf", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n"},
		{"no-final-newline", "A: b\n\nbody", -1, "A: b\r\n\r\nbody\r\n"},
		{"empty", "", -1, "\r\n"},
		{"dots", "A: b\n\n.x\n..y\n.\nz.\n", -1, "A: b\r\n\r\n..x\r\n...y\r\n..\r\nz.\r\n"},
		{"dot-first-byte-not-stuffed", ".A: b\n\nx\n", -1, ".A: b\r\n\r\nx\r\n"},
		{"bare-cr", "A: b\n\nx\ry\r\n.z\n", -1, "A: b\r\n\r\nx\ry\r\n..z\r\n"},
		{"dot-after-cr-only", "A: b\n\nx\r.y\n", -1, "A: b\r\n\r\nx\r.y\r\n"},
		{"nul", "A: b\n\nx\x00y\n", -1, "A: b\r\n\r\nx\x00y\r\n"},
		{"top-0", "A: b\nC: d\n\nl1\nl2\n", 0, "A: b\r\nC: d\r\n\r\n"},
		{"top-1", "A: b\nC: d\n\nl1\nl2\n", 1, "A: b\r\nC: d\r\n\r\nl1\r\n"},
		{"top-more-than-body", "A: b\n\nl1\n", 5, "A: b\r\n\r\nl1\r\n"},
		{"top-crlf", "A: b\r\n\r\nl1\r\nl2\r\n", 1, "A: b\r\n\r\nl1\r\n"},
		{"top-no-body", "A: b\nC: d\n", 0, "A: b\r\nC: d\r\n"},
		{"top-starts-with-blank", "\nl1\nl2\n", 1, "\r\nl1\r\n"},
		{"top-dot-line", "A: b\n\n.\nl2\n", 1, "A: b\r\n\r\n..\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var out bytes.Buffer
				w := bufio.NewWriter(&out)
				var r = strings.NewReader(tc.in)
				rd := any(r)
				if one {
					rd = iotest.OneByteReader(r)
				}
				n, err := writeMessage(w, rd.(interface{ Read([]byte) (int, error) }), tc.lines)
				if err != nil {
					t.Fatal(err)
				}
				w.Flush()
				if diff := cmp.Diff(tc.want, out.String()); diff != "" {
					t.Errorf("one byte reads %v (-want +got):\n%s", one, diff)
				}
				if n != int64(out.Len()) {
					t.Errorf("returned %d bytes, wrote %d", n, out.Len())
				}
			}
		})
	}
}

func TestUIDLFormat(t *testing.T) {
	for _, tc := range []struct {
		format, want string
	}{
		{"%08Xu%08Xv", "000000026b08d191"},
		{"%v.%u", "1795740049.2"},
		{"%{uidvalidity}-%{uid}", "1795740049-2"},
		{"%08XUu%08XUv", "000000026B08D191"},
		{"%4v%%%u", "1795%2"},
		{"UID%u-%v", "UID2-1795740049"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			f, err := parseUIDLFormat(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.format(2, 1795740049); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "static", "%m", "%f.%u", "%g"} {
		if _, err := parseUIDLFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzWriteMessage checks the line-at-a-time encoder against a byte-at-a-
// time transcription of Dovecot's fetch_callback state machine, with
// reads cut at random places.
func FuzzWriteMessage(f *testing.F) {
	f.Add([]byte("A: b\n\n.x\r\n..y\n"), int8(1), uint8(3))
	f.Add([]byte("\n\r\n.\r.\n"), int8(-1), uint8(1))
	f.Add([]byte(".A\r\r\n\nx"), int8(0), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, lines int8, cut uint8) {
		encode := func(fn func(*bufio.Writer, io.Reader, int64) (int64, error)) (string, int64) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			r := io.Reader(bytes.NewReader(in))
			if cut > 0 {
				r = &chunkReader{data: in, size: int(cut)}
			}
			n, err := fn(w, r, int64(lines))
			if err != nil {
				t.Fatal(err)
			}
			w.Flush()
			return out.String(), n
		}
		got, gn := encode(writeMessage)
		want, wn := encode(writeMessageRef)
		if got != want || gn != wn {
			t.Fatalf("lines %d cut %d: got %q (%d), want %q (%d)", lines, cut, got, gn, want, wn)
		}
	})
}

type chunkReader struct {
	data []byte
	size int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(c.size, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// writeMessageRef is the first, byte-at-a-time encoder, kept as the
// reference for FuzzWriteMessage: it follows fetch_callback's loop byte by
// byte.
func writeMessageRef(w *bufio.Writer, r io.Reader, lines int64) (int64, error) {
	var (
		buf    [32 * 1024]byte
		prev   byte // the previous input byte
		start  = true
		inBody bool
		last   byte // the previous output byte
		n      int64
		left   = lines + 1 // Dovecot counts the blank line too
	)
	top := lines >= 0
	for {
		m, rerr := r.Read(buf[:])
		chunk := buf[:m]
		// Copy runs of ordinary bytes at once.
		from := 0
		for i := 0; i < len(chunk); i++ {
			c := chunk[i]
			if c != '\n' && c != '.' && c != '\r' {
				prev, start = c, false
				continue
			}
			if !inBody && (c == '\r' || c == '\n') && (start || prev == '\n') {
				inBody = true
			}
			switch {
			case c == '\n':
				if start || prev != '\r' {
					k, _ := w.Write(chunk[from:i])
					n += int64(k)
					w.WriteByte('\r')
					n++
					from = i
				}
				if top && inBody {
					left--
					if left == 0 {
						k, _ := w.Write(chunk[from : i+1])
						n += int64(k)
						return n, nil
					}
				}
			case c == '.' && !start && prev == '\n':
				k, _ := w.Write(chunk[from:i])
				n += int64(k)
				w.WriteByte('.')
				n++
				from = i
			}
			prev, start = c, false
		}
		if from < len(chunk) {
			k, _ := w.Write(chunk[from:])
			n += int64(k)
		}
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if last != '\n' {
		w.WriteString("\r\n")
		n += 2
	}
	return n, nil
}
