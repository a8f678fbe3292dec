// SPDX-License-Identifier: MIT

package bdb

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// btBenchRecords returns n distinct access-map-like keys and values in
// random order.
func btBenchRecords(n int) (keys, vals [][]byte) {
	r := rand.New(rand.NewPCG(3, 5))
	verdicts := [][]byte{[]byte("RELAY"), []byte("REJECT"), []byte("OK"), []byte(`ERROR:"550 5.7.1 Go away"`)}
	seen := make(map[string]bool, n)
	for len(keys) < n {
		var k string
		switch r.IntN(3) {
		case 0:
			k = fmt.Sprintf("connect:10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
		case 1:
			k = fmt.Sprintf("from:user%d@example%d.com", r.IntN(100000), r.IntN(1000))
		default:
			k = fmt.Sprintf("host%d.domain%d.example", r.IntN(1000000), r.IntN(100))
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, []byte(k))
		vals = append(vals, verdicts[r.IntN(len(verdicts))])
	}
	return keys, vals
}

// btCPU returns the CPU time the process has used: on a shared machine
// wall time says more about the neighbours than about the code.
func btCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBTreeBuild1M builds a 1,000,000-record btree access map from
// unsorted input: every Put, the sort and the WriteTo of the whole file.
func BenchmarkBTreeBuild1M(b *testing.B) {
	keys, vals := btBenchRecords(1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := btCPU()
	var size int64
	for i := 0; i < b.N; i++ {
		w := NewWriter(BTree, WriterOptions{})
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
	b.ReportMetric((btCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(size), "file-bytes")
}

// BenchmarkBTreeGet looks up random present keys in a 200,000-record
// btree file opened with a memory mapping, as sendmaild does.
func BenchmarkBTreeGet(b *testing.B) {
	keys, vals := btBenchRecords(200_000)
	w := NewWriter(BTree, WriterOptions{})
	for j := range keys {
		if err := w.Put(keys[j], vals[j]); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "bench.db")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(9, 9))
	order := r.Perm(len(keys))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := btCPU()
	defer func() { b.ReportMetric(float64(btCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
	for i := 0; i < b.N; i++ {
		k := order[i%len(order)]
		v, ok, err := db.Get(keys[k])
		if err != nil || !ok || len(v) != len(vals[k]) {
			b.Fatalf("Get(%q) = %q, %v, %v", keys[k], v, ok, err)
		}
	}
}
