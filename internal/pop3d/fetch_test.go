// SPDX-License-Identifier: MIT

package pop3d

import (
	"bufio"
	"bytes"
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
