// SPDX-License-Identifier: MIT

package bdb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// btDump renders records the way `makemap -u` prints them: key TAB value
// NL, each cut at its first NUL (makemap prints with %.*s).
func btDump(t testing.TB, db *DB) string {
	t.Helper()
	var sb strings.Builder
	err := db.Walk(func(k, v []byte) error {
		sb.Write(btCutNUL(k))
		sb.WriteByte('\t')
		sb.Write(btCutNUL(v))
		sb.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return sb.String()
}

func btCutNUL(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

type btRec struct{ k, v string }

func btRecords(t testing.TB, db *DB) []btRec {
	t.Helper()
	var recs []btRec
	if err := db.Walk(func(k, v []byte) error {
		recs = append(recs, btRec{string(k), string(v)})
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return recs
}

// btCheckLookups checks that Get returns the first value of every key of
// recs (in walk order) and GetAll all of them, and that absent neighbours
// of each key are not found.
func btCheckLookups(t *testing.T, db *DB, recs []btRec) {
	t.Helper()
	want := map[string][]string{}
	var order []string
	for _, r := range recs {
		if _, ok := want[r.k]; !ok {
			order = append(order, r.k)
		}
		want[r.k] = append(want[r.k], r.v)
	}
	for _, k := range order {
		v, ok, err := db.Get([]byte(k))
		if err != nil || !ok || string(v) != want[k][0] {
			t.Fatalf("Get(%.40q) = %.40q, %v, %v; want %.40q", k, v, ok, err, want[k][0])
		}
		all, err := db.GetAll([]byte(k))
		if err != nil {
			t.Fatalf("GetAll(%.40q): %v", k, err)
		}
		got := make([]string, len(all))
		for i, a := range all {
			got[i] = string(a)
		}
		if d := cmp.Diff(want[k], got); d != "" {
			t.Fatalf("GetAll(%.40q) (-want +got):\n%s", k, d)
		}
		for _, probe := range []string{k + "\x00", k[:len(k)/2], k + "~"} {
			if _, present := want[probe]; present {
				continue
			}
			if _, ok, err := db.Get([]byte(probe)); err != nil || ok {
				t.Fatalf("Get(%.40q) of an absent key = %v, %v", probe, ok, err)
			}
		}
	}
}

// TestBTreeVectors reads every file the real makemap and db5.3_load made
// (see testdata/btree/regen.sh) and checks that Walk prints what
// `makemap -u btree` printed, byte for byte, and that every key is found.
func TestBTreeVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/btree/*.db")
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	props := map[string]struct {
		ps   int
		be   bool
		dups bool
	}{
		"small": {4096, false, false}, "mixed": {4096, false, false},
		"dups_d": {4096, false, true}, "manydup_d": {4096, false, true},
		"large": {4096, false, false}, "large512": {512, false, false},
		"mixed_be": {4096, true, false}, "mixed_chksum": {4096, false, false},
		"overflow": {4096, false, false}, "ovfl512": {512, false, false},
		"manydup512": {512, false, true}, "dupsort512": {512, false, true},
		"ovfldup": {4096, false, true}, "ovfldup512": {512, false, true},
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".db")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".db") + ".dump.txt")
			if err != nil {
				t.Fatal(err)
			}
			pr, ok := props[name]
			if !ok {
				t.Fatalf("vector %s has no expected properties in the table", name)
			}
			for _, mode := range []string{"mmap", "pread", "reader"} {
				var db *DB
				switch mode {
				case "mmap":
					db, err = Open(f)
				case "pread":
					db, err = OpenWith(f, OpenOptions{NoMmap: true, LockEachLookup: true})
				case "reader":
					var data []byte
					if data, err = os.ReadFile(f); err == nil {
						db, err = NewReader(bytes.NewReader(data), int64(len(data)))
					}
				}
				if err != nil {
					t.Fatalf("%s: open: %v", mode, err)
				}
				if db.Type() != BTree || db.PageSize() != pr.ps || db.BigEndian() != pr.be || db.Duplicates() != pr.dups {
					t.Errorf("%s: type %v, page size %d, big-endian %v, dups %v; want btree %+v",
						mode, db.Type(), db.PageSize(), db.BigEndian(), db.Duplicates(), pr)
				}
				if d := cmp.Diff(string(want), btDump(t, db)); d != "" {
					t.Fatalf("%s: Walk differs from makemap -u (-want +got):\n%s", mode, d)
				}
				btCheckLookups(t, db, btRecords(t, db))
				db.Close()
			}
		})
	}
}

// TestBTreeWalkStops checks that Walk returns fn's error and stops there.
func TestBTreeWalkStops(t *testing.T) {
	db, err := Open("testdata/btree/manydup_d.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := errors.New("stop")
	n := 0
	err = db.Walk(func(k, v []byte) error {
		n++
		if n == 7 {
			return stop
		}
		return nil
	})
	if err != stop || n != 7 {
		t.Fatalf("Walk = %v after %d records, want stop after 7", err, n)
	}
}

// btSorted returns recs sorted by key, stably, as BDB's default btree
// comparison orders them.
func btSorted(recs []btRec) []btRec {
	out := append([]btRec(nil), recs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}
