// SPDX-License-Identifier: MIT

package queue

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fillQueue writes n deferred messages into dir in our qf format. The
// files are written without the per-message fsyncs of Commit: the
// benchmark measures listing, and 300,000 fsyncs would take minutes.
func fillQueue(tb testing.TB, dir string, n int) {
	tb.Helper()
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		t := base.Add(time.Duration(i) * time.Second)
		id := formatID(t, i%seqPerSecond, 100000+i%900000)
		env := relayEnvelope(fmt.Sprintf("user%d@outside%d.example", i, i%97))
		if i%3 == 0 {
			env.Recipients = append(env.Recipients, Recipient{Flags: "PFD", Addr: fmt.Sprintf("<other%d@outside.example>", i)})
		}
		env.Created = t.Unix()
		env.LastAttempt = t.Unix() + 600
		env.Attempts = 1 + i%5
		env.Priority = 30000 + int64(i%7919)*90
		env.Message = "Deferred: Connection refused by [127.0.0.1]"
		if err := os.WriteFile(filepath.Join(dir, "df"+id), []byte("Hello.\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "qf"+id), env.Bytes(), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkList lists a queue of 10,000 deferred messages.
func BenchmarkList(b *testing.B) {
	dir := b.TempDir()
	fillQueue(b, dir, 10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := List(io.Discard, dir, ListOptions{QueueLA: 1000}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchHelper serves bench/mailq.sh: MAILQ_BENCH_GEN=dir:n fills dir
// with n messages, MAILQ_BENCH_LIST=dir lists dir on stdout.
func TestBenchHelper(t *testing.T) {
	if spec := os.Getenv("MAILQ_BENCH_GEN"); spec != "" {
		dir, count, _ := strings.Cut(spec, ":")
		n, err := strconv.Atoi(count)
		if err != nil {
			t.Fatal(err)
		}
		fillQueue(t, dir, n)
		return
	}
	if dir := os.Getenv("MAILQ_BENCH_LIST"); dir != "" {
		if _, err := List(os.Stdout, dir, ListOptions{QueueLA: 1000}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Skip("run by bench/mailq.sh")
}
