// SPDX-License-Identifier: MIT

package bdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dumpText lists db the way makemap -u does: key TAB value, each cut at
// the first NUL because makemap prints with %.*s.
func dumpText(t testing.TB, db *DB) string {
	t.Helper()
	var b strings.Builder
	err := db.Walk(func(k, v []byte) error {
		b.Write(cutNUL(k))
		b.WriteByte('\t')
		b.Write(cutNUL(v))
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return b.String()
}

func cutNUL(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func vectorDBs(t *testing.T) []string {
	t.Helper()
	dbs, err := filepath.Glob(filepath.Join("testdata", "makemap", "*.db"))
	if err != nil || len(dbs) == 0 {
		t.Fatalf("no .db vectors in testdata/makemap: %v", err)
	}
	return dbs
}

// TestHashVectorsWalk checks that Walk lists every vector made by the real
// makemap and db5.3_load exactly as makemap -u did, in the same order,
// through both the mapped and the ReadAt page paths.
func TestHashVectorsWalk(t *testing.T) {
	for _, path := range vectorDBs(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".db")
		want, err := os.ReadFile(strings.TrimSuffix(path, ".db") + ".dump.txt")
		if err != nil {
			t.Fatal(err)
		}
		for _, noMmap := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nommap=%v", name, noMmap), func(t *testing.T) {
				db, err := OpenWith(path, OpenOptions{NoMmap: noMmap})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer db.Close()
				if db.Type() != Hash {
					t.Errorf("Type = %v, want hash", db.Type())
				}
				if diff := cmp.Diff(string(want), dumpText(t, db)); diff != "" {
					t.Errorf("Walk differs from makemap -u (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestHashVectorsMeta checks the header facts the reader reports.
func TestHashVectorsMeta(t *testing.T) {
	tests := []struct {
		name      string
		pageSize  int
		bigEndian bool
		dups      bool
	}{
		{"small", 4096, false, false},
		{"large", 4096, false, false},
		{"p512", 512, false, false},
		{"mixed_be", 4096, true, false},
		{"mixed_chksum", 4096, false, false},
		{"dups_d", 4096, false, true},
		{"manydup_d", 4096, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(filepath.Join("testdata", "makemap", tc.name+".db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			got := []any{db.PageSize(), db.BigEndian(), db.Duplicates()}
			want := []any{tc.pageSize, tc.bigEndian, tc.dups}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PageSize, BigEndian, Duplicates (-want +got):\n%s", diff)
			}
		})
	}
}

// sendmailLookup applies sendmail's map rule (map.c db_map_lookup):
// lowercase the key unless the map has -f, try it without and then with a
// trailing NUL, and take the first duplicate.
func sendmailLookup(db *DB, key string, fold bool) (string, bool, error) {
	if fold {
		key = asciiLower(key)
	}
	for _, k := range []string{key, key + "\x00"} {
		v, ok, err := db.Get([]byte(k))
		if err != nil || ok {
			return string(cutNUL(v)), ok, err
		}
	}
	return "", false, nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// TestHashLookups replays lookups.tsv: what real sendmail -bt /map
// returned for each probe.
func TestHashLookups(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "makemap", "lookups.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n := 0
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), "\t", 3)
		if len(fields) != 3 {
			t.Fatalf("bad line %q", sc.Text())
		}
		mapName, key, want := fields[0], fields[1], fields[2]
		file, fold := mapName, true
		if mapName == "mixed_f_nofold" {
			file, fold = "mixed_f", false
		}
		n++
		t.Run(fmt.Sprintf("%d_%s_%s", n, mapName, key), func(t *testing.T) {
			db, err := Open(filepath.Join("testdata", "makemap", file+".db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			got, ok, err := sendmailLookup(db, key, fold)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				got = "NOTFOUND"
			}
			// Long answers were recorded as a prefix and a length.
			if i := strings.Index(want, "...<"); i >= 0 && strings.HasSuffix(want, " bytes>") {
				size, err := strconv.Atoi(want[i+4 : len(want)-len(" bytes>")])
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(got, want[:i]) || len(got) != size {
					t.Errorf("got %d bytes %.60q…, want %d bytes starting %q", len(got), got, size, want[:i])
				}
				return
			}
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no probes")
	}
}

// TestHashGetAll checks duplicate sets on page and off page.
func TestHashGetAll(t *testing.T) {
	tests := []struct {
		file, key string
		want      []string
	}{
		{"dups_d", "dup.example", []string{"FIRST", "SECOND", "THIRD"}},
		{"dups_d", "other.example", []string{"OK"}},
		{"dups_d", "absent.example", nil},
		{"manydup_d", "manydup.example", func() []string {
			var v []string
			for i := 0; i < 400; i++ {
				v = append(v, fmt.Sprintf("value-%04d", i))
			}
			return v
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.key, func(t *testing.T) {
			db, err := Open(filepath.Join("testdata", "makemap", tc.file+".db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			vals, err := db.GetAll([]byte(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vals {
				got = append(got, string(v))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("GetAll (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHashCorrupt checks damaged files give ErrCorrupt, not a panic or a
// hang.
func TestHashCorrupt(t *testing.T) {
	small, err := os.ReadFile(filepath.Join("testdata", "makemap", "small.db"))
	if err != nil {
		t.Fatal(err)
	}
	overflow, err := os.ReadFile(filepath.Join("testdata", "makemap", "overflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	le := func(b []byte, off int, v uint32) []byte {
		c := bytes.Clone(b)
		c[off], c[off+1], c[off+2], c[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		return c
	}
	le16 := func(b []byte, off int, v uint16) []byte {
		c := bytes.Clone(b)
		c[off], c[off+1] = byte(v), byte(v>>8)
		return c
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"truncated", small[:8192]},
		{"short", small[:100]},
		{"bad magic", le(small, 12, 0x12345678)},
		{"bucket chain loops", le(small, 4096+16, 1)},
		{"chain to page out of range", le(small, 4096+16, 99)},
		{"chain to meta page", le(small, 4096+16, 0xffffffff)},
		{"max_bucket huge", le(small, hmMaxBucket, 0xfffffff)},
		{"entries overrun", le16(small, 4096+20, 3000)},
		{"item offset overrun", le16(small, 4096+26, 5000)},
		{"item offsets reversed", le16(small, 4096+28, 4095)},
		{"overflow chain loops", le(overflow, 3*4096+16, 3)},
		{"overflow length lies", le(overflow, 2*4096+4029+8, 9000)},
		{"overflow length huge", le(overflow, 2*4096+4029+8, 0xfffffff0)},
		{"wrong page type", func() []byte { c := bytes.Clone(small); c[4096+25] = pOverflow; return c }()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := NewReader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil {
				err = db.Walk(func(k, v []byte) error { return nil })
			}
			if err == nil {
				t.Fatal("no error from a corrupt file")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

// TestHashGetNoAlloc checks that Get of an on-page value through the
// mapping allocates nothing.
func TestHashGetNoAlloc(t *testing.T) {
	db, err := Open(filepath.Join("testdata", "makemap", "large.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := [][]byte{[]byte("connect:192.0.180"), []byte("connect:192.0.1"), []byte("absent")}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, k := range keys {
			if _, _, err := db.Get(k); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Get allocates %v times per run, want 0", allocs)
	}
}

// TestHashTruncatedUnderMapping truncates a mapped file, as a real
// makemap rebuilding it in place does, and expects errors, not a crash.
func TestHashTruncatedUnderMapping(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "makemap", "large.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "large.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, ok, err := db.Get([]byte("connect:192.0.2")); !ok || err != nil {
		t.Fatalf("Get before truncation: %v, %v", ok, err)
	}
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	if !db.Changed() {
		t.Error("Changed() = false after truncation")
	}
	_, _, err = db.Get([]byte("connect:192.0.2"))
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get after truncation: %v, want ErrCorrupt", err)
	}
	err = db.Walk(func(k, v []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Walk after truncation: %v, want ErrCorrupt", err)
	}
}

// FuzzHashOpen feeds arbitrary bytes to the reader: opening, walking and
// looking up must end with a result or an error, never a panic or a hang.
func FuzzHashOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var keys [][]byte
		db.Walk(func(k, v []byte) error {
			if len(keys) < 16 {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		keys = append(keys, []byte("connect:10.0.0"), nil, []byte("dup.example"), []byte("manydup.example"))
		for _, k := range keys {
			db.Get(k)
			db.GetAll(k)
		}
	})
}

// countingReader counts the pages read through it.
type countingReader struct {
	r     *bytes.Reader
	reads int
}

func (c *countingReader) ReadAt(b []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(b, off)
}

// TestHashGetTouchesFewPages checks that a lookup reads its bucket chain
// and nothing else, never the whole file.
func TestHashGetTouchesFewPages(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "makemap", "large.db"))
	if err != nil {
		t.Fatal(err)
	}
	cr := &countingReader{r: bytes.NewReader(data)}
	db, err := NewReader(cr, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key   string
		found bool
	}{
		{"connect:192.0.180", true},
		{"host4627.domain97.example", true},
		{"connect:192.0.999", false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			cr.reads = 0
			_, ok, err := db.Get([]byte(tc.key))
			if err != nil || ok != tc.found {
				t.Fatalf("Get = %v, %v; want %v", ok, err, tc.found)
			}
			// large.db's longest bucket chain has 2 pages.
			if cr.reads < 1 || cr.reads > 2 {
				t.Errorf("Get read %d pages, want the 1 or 2 of its bucket chain", cr.reads)
			}
		})
	}
}

// TestHashHeapIndependentOfSize opens a small and a large file and looks
// up keys in each: the heap allocated must not grow with the file, since
// pages are read from the mapping on demand and never cached.
func TestHashHeapIndependentOfSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 200,000-entry file")
	}
	dir := t.TempDir()
	var used []uint64
	for _, n := range []int{2_000, 200_000} {
		recs := accessRecords(n)
		path := build(t, dir, fmt.Sprint(n), recs, WriterOptions{})
		recs = recs[:1000]
		keys := make([][]byte, len(recs))
		for i, r := range recs {
			keys[i] = []byte(r.k)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			for _, k := range keys {
				if _, ok, err := db.Get(k); !ok || err != nil {
					t.Fatalf("Get(%q) = %v, %v", k, ok, err)
				}
			}
		}
		runtime.ReadMemStats(&after)
		db.Close()
		used = append(used, after.TotalAlloc-before.TotalAlloc)
	}
	t.Logf("heap allocated by Open and 20,000 lookups: %d bytes (2,000 entries), %d bytes (200,000 entries)", used[0], used[1])
	for _, u := range used {
		if u > 16<<10 {
			t.Errorf("Open and lookups allocated %d bytes, want a few kilobytes at most", u)
		}
	}
}

// TestHashZeroBucketPage checks that an all-zero bucket page, which BDB
// leaves for a bucket that never got a key, reads as an empty bucket.
func TestHashZeroBucketPage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "makemap", "small.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Bucket 0 (page 1) holds connect:hamap.local; bucket 1 (page 2)
	// holds connect:10.0.0.
	clear(data[4096:8192])
	db, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("connect:10.0.0\tRELAY\n", dumpText(t, db)); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	if _, ok, err := db.Get([]byte("connect:hamap.local")); ok || err != nil {
		t.Errorf("Get in the zeroed bucket = %v, %v; want not found", ok, err)
	}
	if v, ok, err := db.Get([]byte("connect:10.0.0")); !ok || err != nil || string(v) != "RELAY" {
		t.Errorf("Get = %q, %v, %v; want RELAY", v, ok, err)
	}
}
