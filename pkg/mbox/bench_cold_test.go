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

// writeBigBodyMbox writes n messages shaped like bench/imapbench's: a short
// header and 175 body lines of 72 characters (about 13 KB a message).
func writeBigBodyMbox(tb testing.TB, path string, n int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := strings.Repeat("x", 71) + "\n"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t := t0.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(w, "From sender%d@example.org  %s\n", i%97, t.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(w, "From: <sender%d@example.org>\nTo: user@example.net\nSubject: message %d\nDate: %s\nMessage-ID: <%d@example.org>\n\n", i%97, i, t.Format(time.RFC1123Z), i)
		for range 175 {
			w.WriteString(line)
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

// BenchmarkOpenColdBig: cold open (no index) of 20,000 messages of 13 KB.
func BenchmarkOpenColdBig(b *testing.B) {
	path := filepath.Join(b.TempDir(), "inbox")
	size := writeBigBodyMbox(b, path, 20000)
	b.SetBytes(size)
	for b.Loop() {
		mb, err := Open(context.Background(), path, Options{ReadOnly: true, Location: time.UTC})
		if err != nil {
			b.Fatal(err)
		}
		if mb.Len() != 20000 {
			b.Fatalf("%d messages", mb.Len())
		}
		mb.f.Close()
	}
}

// TestWriteBigBenchFile writes 100,000 13 KB messages to MBOX_BENCH_WRITE_BIG.
func TestWriteBigBenchFile(t *testing.T) {
	path := os.Getenv("MBOX_BENCH_WRITE_BIG")
	if path == "" {
		t.Skip("set MBOX_BENCH_WRITE_BIG")
	}
	writeBigBodyMbox(t, path, 100000)
}
