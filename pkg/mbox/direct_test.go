// SPDX-License-Identifier: MIT

package mbox

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// forceDirect makes every parse read through O_DIRECT for one test.
func forceDirect(t *testing.T) {
	oldMin, oldIgnore := directMin, directIgnoreCache
	directMin, directIgnoreCache = 0, true
	t.Cleanup(func() { directMin, directIgnoreCache = oldMin, oldIgnore })
}

// TestDirectReader reads a file from odd offsets, with resets, in odd-sized
// pieces through the O_DIRECT reader and compares with the file's bytes.
func TestDirectReader(t *testing.T) {
	forceDirect(t)
	path := filepath.Join(t.TempDir(), "f")
	want := make([]byte, 3*directBuf+12345)
	rand.New(rand.NewSource(1)).Read(want)
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(len(want))
	for _, start := range []int64{0, 1, 4095, 4096, directBuf - 3, size - 7, size} {
		d := newDirectReader(f, start, size)
		if d == nil {
			t.Skip("O_DIRECT not available here")
		}
		var got []byte
		p := make([]byte, 70001)
		for {
			n, err := d.Read(p[:1+len(got)%len(p)])
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want[start:]) {
			t.Fatalf("start %d: read %d bytes, differ from the file's %d", start, len(got), size-start)
		}
		d.reset(size / 3)
		got, _ = io.ReadAll(d)
		if !bytes.Equal(got, want[size/3:]) {
			t.Fatalf("after reset: %d bytes differ", len(got))
		}
		d.Close()
	}
	// A shorter size than the file: the reader stops there.
	d := newDirectReader(f, 10, 5000)
	got, _ := io.ReadAll(d)
	d.Close()
	if !bytes.Equal(got, want[10:5000]) {
		t.Fatalf("limited: %d bytes", len(got))
	}
}

// TestDirectParseSame parses generated mailboxes (quoted From lines, CRLF,
// Content-Length, From_ look-alikes) buffered and through O_DIRECT and
// requires the same messages.
func TestDirectParseSame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inbox")
	writeBenchMbox(t, path, 3000)
	b, _ := os.ReadFile(path)
	var extra bytes.Buffer
	extra.WriteString("From a@b  Mon Jan  5 10:00:00 2026\r\nContent-Length: 12\r\nSubject: cl\r\n\r\nFrom x\nabc\r\n\r\n")
	extra.WriteString("From a@b  Mon Jan  5 10:00:01 2026\nContent-Length: 5\n\nFrom nobody\nbody line\n\n")
	extra.WriteString("From a@b  Mon Jan  5 10:00:02 2026\nSubject: crlf\r\n\r\nline\r\nFrom not a valid one\r\nend\r\n\r\n")
	for i := 0; i < 200; i++ {
		extra.WriteString("From c@d  Tue Jan  6 11:00:00 2026\nSubject: long\n\n")
		extra.Write(bytes.Repeat([]byte("y"), 5000+i*97))
		extra.WriteString("\n\n")
	}
	b = append(b, extra.Bytes()...)
	b = append(b, "From e@f  Wed Jan  7 12:00:00 2026\nSubject: no final newline\n\nlast"...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() []Message {
		mb, err := Open(context.Background(), path, Options{ReadOnly: true, Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		defer mb.f.Close()
		return mb.Messages()
	}
	buffered := open()
	forceDirect(t)
	n0 := directOpens.Load()
	direct := open()
	if directOpens.Load() == n0 {
		t.Skip("O_DIRECT not available here")
	}
	if len(buffered) != 3000+3+200+1 {
		t.Fatalf("%d messages buffered", len(buffered))
	}
	if !slices.EqualFunc(buffered, direct, func(a, b Message) bool {
		return a.UID == b.UID && a.Size == b.Size && a.Flags == b.Flags && a.Sender == b.Sender && a.InternalDate.Equal(b.InternalDate)
	}) {
		t.Fatalf("direct parse differs: %d against %d messages", len(direct), len(buffered))
	}
}

// TestTrickyDirect replays the Dovecot tricky cases with every parse read
// through O_DIRECT.
func TestTrickyDirect(t *testing.T) {
	forceDirect(t)
	TestTricky(t)
}
