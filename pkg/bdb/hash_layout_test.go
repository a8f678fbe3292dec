// SPDX-License-Identifier: MIT

package bdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// TestHashReadRealMakemap has the real makemap build maps from generated
// inputs (bucket splits, chain pages, free pages, on- and off-page
// duplicates that only BDB's own insertion order produces) and checks
// that Walk lists them exactly as makemap -u does, order included, and
// that Get finds every key.
func TestHashReadRealMakemap(t *testing.T) {
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	r := rand.New(rand.NewPCG(7, 8))
	var dups []kv
	for i := 0; i < 400; i++ {
		n := 1 + r.IntN(3)
		if i%40 == 0 {
			n = 60 + r.IntN(200)
		}
		for j := 0; j < n; j++ {
			dups = append(dups, kv{fmt.Sprintf("dup%d.example", i), fmt.Sprintf("v%d-%s", j, randBytes(r, 0, 40, lowerAlnum))})
		}
	}
	r.Shuffle(len(dups), func(i, j int) { dups[i], dups[j] = dups[j], dups[i] })
	tests := []struct {
		name  string
		flags []string
		recs  []kv
	}{
		{"access-20k", nil, accessRecords(20000)},
		{"duplicates", []string{"-d"}, dups},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var src strings.Builder
			for _, r := range tc.recs {
				src.WriteString(r.k + "\t" + r.v + "\n")
			}
			path := filepath.Join(dir, tc.name+".db")
			cmd := exec.Command(makemap, append(tc.flags, "hash", path)...)
			cmd.Stdin = strings.NewReader(src.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("makemap: %v\n%s", err, out)
			}
			want, err := exec.Command(makemap, "-u", "hash", path).Output()
			if err != nil {
				t.Fatalf("makemap -u: %v", err)
			}
			db, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if diff := cmp.Diff(string(want), dumpText(t, db)); diff != "" {
				t.Errorf("Walk differs from makemap -u (-want +got):\n%.3000s", diff)
			}
			first, _ := grouped(tc.recs)
			for k, vals := range first {
				v, ok, err := db.Get([]byte(k))
				if err != nil || !ok || string(v) != vals[0] {
					t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, v, ok, err, vals[0])
				}
			}
		})
	}
}

// TestHashWriteMeta checks the meta page field by field against the
// recipe in berkeley-db-hash.md §10, and the header of every other page.
func TestHashWriteMeta(t *testing.T) {
	tests := []struct {
		name   string
		recs   []kv
		opts   WriterOptions
		nb     uint32
		flags  uint32
		ps     int
		bigEnd bool
	}{
		{"empty", nil, WriterOptions{}, 2, 0, 4096, false},
		{"small", makemapInput(t, "small.txt"), WriterOptions{}, 2, 0, 4096, false},
		// 5000 records of about 40 bytes on the page: 200 KB is 65.5
		// pages of 4096 bytes, 549 of 512, at 75% fill.
		{"large", makemapInput(t, "large.txt"), WriterOptions{}, 128, 0, 4096, false},
		{"large-p512-be", makemapInput(t, "large.txt"), WriterOptions{PageSize: 512, BigEndian: true}, 1024, 0, 512, true},
		{"dups", []kv{{"a", "1"}, {"a", "2"}}, WriterOptions{Duplicates: true}, 2, hashFlagDup, 4096, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var files [2][]byte
			for i := range files {
				w := NewWriter(Hash, tc.opts)
				for _, r := range tc.recs {
					w.Put([]byte(r.k), []byte(r.v))
				}
				var buf bytes.Buffer
				if _, err := w.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				files[i] = buf.Bytes()
			}
			f := files[0]
			var o binary.ByteOrder = binary.LittleEndian
			if tc.bigEnd {
				o = binary.BigEndian
			}
			if len(f)%tc.ps != 0 {
				t.Fatalf("file of %d bytes is not whole pages", len(f))
			}
			last := uint32(len(f)/tc.ps - 1)
			want := make([]byte, tc.ps)
			o.PutUint32(want[4:], 1)
			o.PutUint32(want[12:], magicHash)
			o.PutUint32(want[16:], 9)
			o.PutUint32(want[20:], uint32(tc.ps))
			want[25] = pHashMeta
			o.PutUint32(want[32:], last)
			o.PutUint32(want[48:], tc.flags)
			copy(want[52:72], f[52:72])
			o.PutUint32(want[72:], tc.nb-1)
			o.PutUint32(want[76:], tc.nb-1)
			o.PutUint32(want[80:], tc.nb/2-1)
			o.PutUint32(want[88:], uint32(len(tc.recs)))
			o.PutUint32(want[92:], 0x5E688DD1)
			for i := 0; 1<<i <= tc.nb; i++ {
				o.PutUint32(want[96+4*i:], 1)
			}
			if diff := cmp.Diff(want, f[:tc.ps]); diff != "" {
				t.Errorf("meta page (-want +got):\n%s", diff)
			}
			if bytes.Equal(f[52:72], files[1][52:72]) || bytes.Equal(f[52:72], make([]byte, 20)) {
				t.Errorf("file ids %x and %x: want 20 random bytes per file", f[52:72], files[1][52:72])
			}
			for n := uint32(1); n <= last; n++ {
				pg := f[int(n)*tc.ps:][:tc.ps]
				if o.Uint32(pg[0:]) != 0 || o.Uint32(pg[4:]) != 1 || o.Uint32(pg[8:]) != n {
					t.Fatalf("page %d header: lsn %d/%d pgno %d", n, o.Uint32(pg[0:]), o.Uint32(pg[4:]), o.Uint32(pg[8:]))
				}
				if n <= tc.nb && pg[25] != pHash {
					t.Fatalf("bucket page %d has type %d", n, pg[25])
				}
			}
		})
	}
}

// TestWriterPutReplace checks the Writer's duplicate handling, which
// makemap's default, -r and -d modes rely on.
func TestWriterPutReplace(t *testing.T) {
	type op struct {
		replace bool
		k, v    string
		wantErr error
	}
	tests := []struct {
		name string
		dups bool
		ops  []op
		want map[string][]string
	}{
		{"put keeps the first", false, []op{
			{false, "a", "1", nil}, {false, "b", "2", nil}, {false, "a", "3", ErrKeyExists},
		}, map[string][]string{"a": {"1"}, "b": {"2"}}},
		{"replace keeps the last", false, []op{
			{true, "a", "1", nil}, {true, "a", "2", nil}, {false, "b", "x", nil}, {true, "b", "y", nil},
		}, map[string][]string{"a": {"2"}, "b": {"y"}}},
		{"duplicates keep all in order", true, []op{
			{false, "a", "1", nil}, {false, "b", "x", nil}, {false, "a", "2", nil}, {true, "a", "3", nil},
		}, map[string][]string{"a": {"1", "2", "3"}, "b": {"x"}}},
		{"empty key and value", false, []op{
			{false, "", "", nil}, {false, "", "z", ErrKeyExists},
		}, map[string][]string{"": {""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(Hash, WriterOptions{Duplicates: tc.dups})
			for _, o := range tc.ops {
				var err error
				if o.replace {
					w.Replace([]byte(o.k), []byte(o.v))
				} else {
					err = w.Put([]byte(o.k), []byte(o.v))
				}
				if !errors.Is(err, o.wantErr) {
					t.Fatalf("Put(%q, %q) = %v, want %v", o.k, o.v, err, o.wantErr)
				}
			}
			var buf bytes.Buffer
			if _, err := w.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			db, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			db.Walk(func(k, v []byte) error {
				got[string(k)] = append(got[string(k)], string(v))
				return nil
			})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}
