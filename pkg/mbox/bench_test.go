// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeBenchMbox streams an n-message procmail-style mbox to path.
func writeBenchMbox(tb testing.TB, path string, n int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t := t0.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(w, "From sender%d@example.org  %s\n", i%97, t.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(w, "Return-Path: <sender%d@example.org>\nReceived: from mail.example.org by mx.example.net; %s\n", i%97, t.Format(time.RFC1123Z))
		fmt.Fprintf(w, "From: Sender <sender%d@example.org>\nTo: user@example.net\nSubject: benchmark message %d\n", i%97, i)
		fmt.Fprintf(w, "Date: %s\nMessage-ID: <%d@example.org>\n\n", t.Format(time.RFC1123Z), i)
		for l := range 5 + i%20 {
			if l == 3 && i%11 == 0 {
				w.WriteString(">From the quoted line of a body\n")
				continue
			}
			fmt.Fprintf(w, "Line %d of message %d, with some ordinary text to give it a size.\n", l, i)
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return st.Size()
}

// BenchmarkOpen100k: cold open (full parse, no index) and warm open (index
// matches) of a generated 100,000-message mbox.
func BenchmarkOpen100k(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "inbox")
	size := writeBenchMbox(b, path, 100000)
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			mb, err := Open(ctx, path, Options{ReadOnly: true, Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			if mb.Len() != 100000 {
				b.Fatalf("%d messages", mb.Len())
			}
			mb.f.Close()
		}
	})
	index := filepath.Join(dir, ".imap", "INBOX", "mailsuite.mbox-index")
	mb, err := Open(ctx, path, Options{ReadOnly: true, Location: time.UTC, IndexPath: index})
	if err != nil {
		b.Fatal(err)
	}
	mb.f.Close()
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			mb, err := Open(ctx, path, Options{ReadOnly: true, Location: time.UTC, IndexPath: index})
			if err != nil {
				b.Fatal(err)
			}
			if mb.Len() != 100000 {
				b.Fatalf("%d messages", mb.Len())
			}
			mb.f.Close()
		}
	})
}

// BenchmarkOpenFile opens the mbox named by MBOX_BENCH_FILE cold (no
// index), to compare with other programs on the same file.
func BenchmarkOpenFile(b *testing.B) {
	path := os.Getenv("MBOX_BENCH_FILE")
	if path == "" {
		b.Skip("set MBOX_BENCH_FILE")
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		mb, err := Open(context.Background(), path, Options{ReadOnly: true, Location: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
		mb.f.Close()
	}
}

// TestWriteBenchFile writes the benchmark mailbox to MBOX_BENCH_WRITE.
func TestWriteBenchFile(t *testing.T) {
	path := os.Getenv("MBOX_BENCH_WRITE")
	if path == "" {
		t.Skip("set MBOX_BENCH_WRITE")
	}
	writeBenchMbox(t, path, 100000)
}

// BenchmarkOpen10k is the IMAP server's warm SELECT of a 10,000-message
// mailbox whose headers a first session already wrote (X-IMAPbase, X-UID,
// Status): open read-write, take \Recent, close.
func BenchmarkOpen10k(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "inbox")
	writeBenchMbox(b, path, 10000)
	ctx := context.Background()
	opts := Options{Location: time.UTC, Hostname: "vm", IndexPath: filepath.Join(dir, ".imap", "INBOX", indexFile)}
	sel := func() {
		mb, err := Open(ctx, path, opts)
		if err != nil {
			b.Fatal(err)
		}
		if mb.Len() != 10000 {
			b.Fatalf("%d messages", mb.Len())
		}
		mb.TakeRecent()
		if err := mb.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	sel() // the first session writes every header
	b.Run("warm-select", func(b *testing.B) {
		for b.Loop() {
			sel()
		}
	})
	// A delivery, then read-only opens (EXAMINE, STATUS, POP3).
	d, err := Open(ctx, path, Options{Location: time.UTC, Hostname: "vm"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := d.Append(ctx, strings.NewReader("Subject: new\n\nbody\n"), AppendOptions{Sender: "a@example.org"}); err != nil {
		b.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		b.Fatal(err)
	}
	ro := opts
	ro.ReadOnly = true
	b.Run("examine-after-delivery", func(b *testing.B) {
		for b.Loop() {
			mb, err := Open(ctx, path, ro)
			if err != nil {
				b.Fatal(err)
			}
			if mb.Len() != 10001 {
				b.Fatalf("%d messages", mb.Len())
			}
			if err := mb.Close(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
