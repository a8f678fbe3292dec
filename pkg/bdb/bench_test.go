// SPDX-License-Identifier: MIT

package bdb

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// accessLines returns n distinct access-map-like keys and values, as
// byte slices ready for Put.
func accessLines(n int) (keys, vals [][]byte) {
	recs := accessRecords(n)
	keys = make([][]byte, n)
	vals = make([][]byte, n)
	for i, r := range recs {
		keys[i], vals[i] = []byte(r.k), []byte(r.v)
	}
	return keys, vals
}

// BenchmarkHashBuild1M builds a 1,000,000-entry access map: every Put and
// the WriteTo of the whole file, as makemap does.
func BenchmarkHashBuild1M(b *testing.B) {
	keys, vals := accessLines(1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var size int64
	for i := 0; i < b.N; i++ {
		w := NewWriter(Hash, WriterOptions{})
		for j := range keys {
			if err := w.Put(keys[j], vals[j]); err != nil {
				b.Fatal(err)
			}
		}
		n, err := w.WriteTo(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	// CPU seconds of the whole process (GC included): on a shared
	// machine wall time says more about the neighbours.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(size), "file-bytes")
}

// threadCPU returns the CPU time the calling OS thread has used; the
// caller must have locked its goroutine to the thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchFiles sync.Map // n → *benchFile

type benchFile struct {
	once sync.Once
	data []byte
	keys [][]byte
	err  error
}

// benchDB writes an n-entry access map into a temporary directory of b
// and returns its path and keys. The file is built once per test binary
// run and kept in memory, so repeated rounds only rewrite it.
func benchDB(b *testing.B, n int) (string, [][]byte) {
	b.Helper()
	v, _ := benchFiles.LoadOrStore(n, &benchFile{})
	bf := v.(*benchFile)
	bf.once.Do(func() {
		keys, vals := accessLines(n)
		w := NewWriter(Hash, WriterOptions{})
		for j := range keys {
			w.Put(keys[j], vals[j])
		}
		var buf bytes.Buffer
		_, bf.err = w.WriteTo(&buf)
		bf.data, bf.keys = buf.Bytes(), keys
	})
	if bf.err != nil {
		b.Fatal(bf.err)
	}
	path := filepath.Join(b.TempDir(), fmt.Sprintf("access%d.db", n))
	if err := os.WriteFile(path, bf.data, 0o600); err != nil {
		b.Fatal(err)
	}
	return path, bf.keys
}

// BenchmarkHashGet looks up random existing keys in a warm mapped file of
// 10,000 and of 1,000,000 entries. It reports lookups per second and the
// heap in use after opening the file and after the lookups, which must
// not grow with the file.
func BenchmarkHashGet(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path, keys := benchDB(b, n)
			r := rand.New(rand.NewPCG(3, 4))
			// The probe keys sit together, as a caller's key would be in
			// its own buffer, not spread over the whole key set.
			probe := make([][]byte, 1<<16)
			pick := make([]int, len(probe))
			size := 0
			for i := range pick {
				pick[i] = r.IntN(len(keys))
				size += len(keys[pick[i]])
			}
			buf := make([]byte, 0, size)
			for i, k := range pick {
				buf = append(buf, keys[k]...)
				probe[i] = buf[len(buf)-len(keys[k]):]
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			db, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var opened runtime.MemStats
			runtime.ReadMemStats(&opened)
			for _, k := range probe { // warm the page cache and mapping
				db.Get(k)
			}
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			cpu0 := threadCPU()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, ok, err := db.Get(probe[i&(len(probe)-1)]); !ok || err != nil {
					b.Fatalf("Get(%q) = %v, %v", probe[i&(len(probe)-1)], ok, err)
				}
			}
			el := time.Since(start)
			cpu := threadCPU() - cpu0
			b.StopTimer()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.N)/el.Seconds(), "lookups/s")
			// Lookups per second of CPU time of the thread doing them: on a
			// shared machine this is what one free core would do.
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "lookups/cpu-s")
			b.ReportMetric(float64(opened.HeapAlloc)-float64(before.HeapAlloc), "open-heap-bytes")
			b.ReportMetric(float64(after.TotalAlloc-opened.TotalAlloc)/float64(b.N), "heap-bytes/lookup")
		})
	}
}
