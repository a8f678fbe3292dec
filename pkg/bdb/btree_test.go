// SPDX-License-Identifier: MIT

package bdb

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mailsuite/internal/testutil"
	"math/rand/v2"
	"os"
	"os/exec"
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
		"small": {4096, false, false}, "mixed": {4096, false, false}, "small_N": {4096, false, false},
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

// btWrite writes recs (in put order) with our writer to dir/name.db.
func btWrite(t *testing.T, dir, name string, recs []btRec, opts WriterOptions) string {
	t.Helper()
	w := NewWriter(BTree, opts)
	for _, r := range recs {
		if err := w.Put([]byte(r.k), []byte(r.v)); err != nil {
			t.Fatalf("Put(%.40q): %v", r.k, err)
		}
	}
	path := filepath.Join(dir, name+".db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.WriteTo(f)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ps := opts.PageSize; n%int64(max(ps, 512)) != 0 {
		t.Fatalf("wrote %d bytes, not a whole number of pages", n)
	}
	return path
}

// btLoadInput renders recs as db_dump -p / db_load input in bytevalue
// format, so that any byte survives.
func btLoadInput(recs []btRec) string {
	var sb strings.Builder
	sb.WriteString("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n")
	for _, r := range recs {
		for _, s := range []string{r.k, r.v} {
			sb.WriteByte(' ')
			sb.WriteString(hex.EncodeToString([]byte(s)))
			sb.WriteByte('\n')
		}
	}
	sb.WriteString("DATA=END\n")
	return sb.String()
}

// btDatasets are record sets for the writer tests, in put order.
func btDatasets() map[string]struct {
	recs []btRec
	opts WriterOptions
} {
	r := rand.New(rand.NewPCG(7, 11))
	access := func(n int) []btRec {
		var recs []btRec
		seen := map[string]bool{}
		vals := []string{"RELAY", "REJECT", "OK", "DISCARD", `ERROR:"550 5.7.1 Go away"`, "ERROR:4.7.1:450 Try later", "SKIP"}
		for len(recs) < n {
			var k string
			switch r.IntN(5) {
			case 0:
				k = fmt.Sprintf("connect:10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
			case 1:
				k = fmt.Sprintf("connect:192.0.%d", r.IntN(256))
			case 2:
				k = fmt.Sprintf("from:user%d@example%d.com", r.IntN(1000), r.IntN(500))
			case 3:
				k = fmt.Sprintf("host%d.domain%d.example", r.IntN(5000), r.IntN(50))
			default:
				k = fmt.Sprintf("connect:ipv6:2001:db8:%x", r.IntN(1<<16))
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			recs = append(recs, btRec{k, vals[r.IntN(len(vals))]})
		}
		return recs
	}
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	var ovfl []btRec
	for i, n := range []int{1, 110, 111, 112, 1006, 1007, 1008, 1009, 4070, 4071, 9018, 20000} {
		ovfl = append(ovfl, btRec{fmt.Sprintf("v%02d", i), long('v', n)})
		ovfl = append(ovfl, btRec{fmt.Sprintf("k%02d.", i) + long('k', n), fmt.Sprint(n)})
	}
	var ovkeys []btRec
	for i := 0; i < 400; i++ {
		kl := []int{3, 30, 105, 111, 112, 200, 600}[r.IntN(7)]
		vl := []int{1, 20, 111, 112, 700}[r.IntN(5)]
		ovkeys = append(ovkeys, btRec{fmt.Sprintf("key%04d.", i) + long('k', kl), fmt.Sprintf("%d:", i) + long('x', vl)})
	}
	var dups []btRec
	for i := 0; i < 60; i++ {
		k := fmt.Sprintf("dup%03d.example", i)
		n := []int{1, 2, 3, 10, 40, 75, 300, 700}[r.IntN(8)]
		for j := 0; j < n; j++ {
			vl := []int{4, 10, 30, 100}[r.IntN(4)]
			if r.IntN(200) == 0 {
				vl = 1500
			}
			dups = append(dups, btRec{k, fmt.Sprintf("%d-", j) + long('d', vl)})
		}
	}
	r.Shuffle(len(dups), func(i, j int) {
		if dups[i].k != dups[j].k { // keep each key's values in order
			dups[i], dups[j] = dups[j], dups[i]
		}
	})
	type ds = struct {
		recs []btRec
		opts WriterOptions
	}
	a5000 := access(5000)
	return map[string]ds{
		"empty":       {nil, WriterOptions{}},
		"small":       {[]btRec{{"connect:10.0.0", "RELAY"}, {"connect:hamap.local", "RELAY"}}, WriterOptions{}},
		"access5000":  {a5000, WriterOptions{}},
		"access512":   {a5000, WriterOptions{PageSize: 512}},
		"bigendian":   {a5000[:700], WriterOptions{BigEndian: true}},
		"page1024be":  {a5000[:900], WriterOptions{PageSize: 1024, BigEndian: true}},
		"overflow":    {ovfl, WriterOptions{}},
		"overflow512": {ovfl, WriterOptions{PageSize: 512}},
		"ovkeys512":   {ovkeys, WriterOptions{PageSize: 512}},
		"ovkeys2k":    {ovkeys, WriterOptions{PageSize: 2048}},
		"dups":        {dups, WriterOptions{Duplicates: true}},
		"dups512":     {dups, WriterOptions{Duplicates: true, PageSize: 512}},
		"dupsnone":    {a5000[:50], WriterOptions{Duplicates: true}},
		"page64k":     {append(append([]btRec(nil), ovfl...), a5000[:300]...), WriterOptions{PageSize: 65536}},
		"empty64k":    {nil, WriterOptions{PageSize: 65536, Duplicates: true}},
	}
}

// btRun runs a reference program and returns its standard output.
func btRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

// btPages is db5.3_dump -da without the lines that show the random file
// id and the addresses of the comparison functions.
func btPages(t *testing.T, dump, file string) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(btRun(t, dump, "-da", file), "\n") {
		if s := strings.TrimSpace(l); !strings.HasPrefix(s, "uid:") && !strings.HasPrefix(s, "bt_compare:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestBTreeWriter checks the files the writer makes against the real
// tools: db5.3_verify accepts them, makemap -u and db5.3_dump -p list the
// records db5.3_load stores for the same input, and page by page
// (db5.3_dump -da) they equal what db5.3_load makes from the records in
// key order. Our own reader must read them back.
func TestBTreeWriter(t *testing.T) {
	verify := testutil.Oracle(t, "db5.3_verify", "db5.3-util")
	load := testutil.Oracle(t, "db5.3_load", "db5.3-util")
	dump := testutil.Oracle(t, "db5.3_dump", "db5.3-util")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	dir := t.TempDir()
	for name, ds := range btDatasets() {
		t.Run(name, func(t *testing.T) {
			ours := btWrite(t, dir, name, ds.recs, ds.opts)
			btRun(t, verify, "-q", ours)

			sorted := btSorted(ds.recs)
			db, err := Open(ours)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if d := cmp.Diff(sorted, btRecords(t, db), cmp.AllowUnexported(btRec{})); d != "" {
				t.Fatalf("our reader on our file (-want +got):\n%s", d)
			}
			btCheckLookups(t, db, sorted)

			ref := filepath.Join(dir, name+"-ref.db")
			args := []string{"-t", "btree"}
			if ds.opts.PageSize != 0 {
				args = append(args, "-c", fmt.Sprintf("db_pagesize=%d", ds.opts.PageSize))
			}
			if ds.opts.BigEndian {
				args = append(args, "-c", "db_lorder=4321")
			}
			if ds.opts.Duplicates {
				args = append(args, "-c", "duplicates=1")
			}
			cmd := exec.Command(load, append(args, ref)...)
			cmd.Stdin = strings.NewReader(btLoadInput(sorted))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("db5.3_load: %v\n%s", err, out)
			}
			if d := cmp.Diff(btRun(t, dump, "-p", ref), btRun(t, dump, "-p", ours)); d != "" {
				t.Errorf("db5.3_dump -p differs (-db_load +ours):\n%s", d)
			}
			if d := cmp.Diff(btRun(t, makemap, "-u", "btree", ref), btRun(t, makemap, "-u", "btree", ours)); d != "" {
				t.Errorf("makemap -u differs (-db_load +ours):\n%s", d)
			}
			if d := cmp.Diff(btPages(t, dump, ref), btPages(t, dump, ours)); d != "" {
				t.Errorf("pages differ from db5.3_load's (-db_load +ours):\n%s", d)
			}
		})
	}
}

// TestBTreeRewriteVectors reads each vector, writes its records again with
// the writer (same page size, byte order and duplicate mode) and checks
// that the real makemap -u lists exactly what it listed for the original.
func TestBTreeRewriteVectors(t *testing.T) {
	verify := testutil.Oracle(t, "db5.3_verify", "db5.3-util")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	files, _ := filepath.Glob("testdata/btree/*.db")
	dir := t.TempDir()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".db")
		t.Run(name, func(t *testing.T) {
			db, err := Open(f)
			if err != nil {
				t.Fatal(err)
			}
			recs := btRecords(t, db)
			opts := WriterOptions{PageSize: db.PageSize(), BigEndian: db.BigEndian(), Duplicates: db.Duplicates()}
			db.Close()
			ours := btWrite(t, dir, name, recs, opts)
			btRun(t, verify, "-q", ours)
			want, err := os.ReadFile(strings.TrimSuffix(f, ".db") + ".dump.txt")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), btRun(t, makemap, "-u", "btree", ours)); d != "" {
				t.Fatalf("makemap -u of the rewritten file (-want +got):\n%s", d)
			}
		})
	}
}

// btTestFile builds a small multi-level 512-byte-page file with overflow
// items and an off-page duplicate set, for the corruption tests.
func btTestFile(t testing.TB) ([]byte, []btRec) {
	t.Helper()
	var recs []btRec
	for i := 0; i < 150; i++ {
		recs = append(recs, btRec{fmt.Sprintf("connect:10.0.%d.%d", i/7, i), "RELAY"})
	}
	for i := 0; i < 60; i++ {
		recs = append(recs, btRec{"many.example", fmt.Sprintf("value-%03d", i)})
	}
	recs = append(recs, btRec{"long.example", strings.Repeat("L", 700)})
	w := NewWriter(BTree, WriterOptions{PageSize: 512, Duplicates: true})
	for _, r := range recs {
		if err := w.Put([]byte(r.k), []byte(r.v)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), btSorted(recs)
}

// btFindPage returns the number of the first page of type typ.
func btFindPage(t *testing.T, data []byte, typ byte) uint32 {
	t.Helper()
	for n := 1; n*512 < len(data); n++ {
		if data[n*512+offType] == typ {
			return uint32(n)
		}
	}
	t.Fatalf("no page of type %d", typ)
	return 0
}

// TestBTreeCorrupt damages a good file in the ways a broken or hostile
// file can be damaged and checks that every access reports ErrCorrupt
// instead of panicking or looping.
func TestBTreeCorrupt(t *testing.T) {
	good, _ := btTestFile(t)
	le := binary.LittleEndian
	at := func(pg uint32, off int) int { return int(pg)*512 + off }
	item := func(d []byte, pg uint32, i int) int { return at(pg, int(le.Uint16(d[at(pg, pageHdrSize+2*i):]))) }
	tests := []struct {
		name   string
		damage func(d []byte) []byte
	}{
		{"leaf loops to itself", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			le.PutUint32(d[at(leaf, offNextPgno):], leaf)
			return d
		}},
		{"leaf chain loops back", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			next := le.Uint32(d[at(leaf, offNextPgno):])
			le.PutUint32(d[at(next, offNextPgno):], leaf)
			le.PutUint32(d[at(leaf, offPrevPgno):], next)
			return d
		}},
		{"root child out of range", func(d []byte) []byte {
			le.PutUint32(d[item(d, 1, 0)+4:], 99999)
			return d
		}},
		{"root child is the root", func(d []byte) []byte {
			le.PutUint32(d[item(d, 1, 0)+4:], 1)
			return d
		}},
		{"root child is the meta page", func(d []byte) []byte {
			le.PutUint32(d[item(d, 1, 0)+4:], 0)
			return d
		}},
		{"root level too low", func(d []byte) []byte {
			d[at(1, offLevel)] = 1
			return d
		}},
		{"item offset past the page", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			le.PutUint16(d[at(leaf, pageHdrSize):], 511)
			return d
		}},
		{"item length past the page", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			le.PutUint16(d[item(d, leaf, 0):], 4000)
			return d
		}},
		{"too many entries", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			le.PutUint16(d[at(leaf, offEntries):], 300)
			return d
		}},
		{"odd entries", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			le.PutUint16(d[at(leaf, offEntries):], le.Uint16(d[at(leaf, offEntries):])-1)
			return d
		}},
		{"unknown item type", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			d[item(d, leaf, 1)+2] = 9
			return d
		}},
		{"overflow chain loops", func(d []byte) []byte {
			ov := btFindPage(t, d, pOverflow)
			le.PutUint32(d[at(ov, offNextPgno):], ov)
			return d
		}},
		{"overflow length wrong", func(d []byte) []byte {
			ov := btFindPage(t, d, pOverflow)
			le.PutUint16(d[at(ov, offHfOffset):], 3)
			return d
		}},
		{"duplicate tree loops", func(d []byte) []byte {
			dp := btFindPage(t, d, pLRecno)
			le.PutUint32(d[at(dp, offNextPgno):], dp)
			return d
		}},
		{"page names another page", func(d []byte) []byte {
			leaf := btFindPage(t, d, pLBTree)
			le.PutUint32(d[at(leaf, offPgno):], leaf+1)
			return d
		}},
		{"truncated", func(d []byte) []byte { return d[:len(d)/2+100] }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.damage(append([]byte(nil), good...))
			db, err := NewReader(bytes.NewReader(d), int64(len(d)))
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open: %v, want ErrCorrupt", err)
				}
				return
			}
			werr := db.Walk(func(k, v []byte) error { return nil })
			if !errors.Is(werr, ErrCorrupt) {
				t.Errorf("Walk = %v, want ErrCorrupt", werr)
			}
			// Lookups may succeed for keys off the damaged path but must
			// never fail with anything other than ErrCorrupt.
			for _, k := range []string{"connect:10.0.0.0", "connect:10.0.21.149", "long.example", "many.example", "zzz"} {
				if _, err := db.GetAll([]byte(k)); err != nil && !errors.Is(err, ErrCorrupt) {
					t.Errorf("GetAll(%q) = %v, want nil or ErrCorrupt", k, err)
				}
			}
		})
	}
}

// TestBTreeDeleted checks that items whose delete flag BDB set (a cursor
// delete that left the item in place) are skipped.
func TestBTreeDeleted(t *testing.T) {
	d, recs := btTestFile(t)
	le := binary.LittleEndian
	// Flag the data item of the first pair on the first leaf, and the
	// first value on the first duplicate page.
	leaf := btFindPage(t, d, pLBTree)
	off := int(leaf)*512 + int(le.Uint16(d[int(leaf)*512+pageHdrSize+2:]))
	d[off+2] |= bDelete
	dp := btFindPage(t, d, pLRecno)
	off = int(dp)*512 + int(le.Uint16(d[int(dp)*512+pageHdrSize:]))
	d[off+2] |= bDelete
	db, err := NewReader(bytes.NewReader(d), int64(len(d)))
	if err != nil {
		t.Fatal(err)
	}
	want := append([]btRec(nil), recs[1:]...)
	for i, r := range want {
		if r.k == "many.example" {
			want = append(want[:i], want[i+1:]...)
			break
		}
	}
	if d := cmp.Diff(want, btRecords(t, db), cmp.AllowUnexported(btRec{})); d != "" {
		t.Fatalf("Walk with deleted items (-want +got):\n%s", d)
	}
	if _, ok, err := db.Get([]byte(recs[0].k)); ok || err != nil {
		t.Errorf("Get of a deleted record = %v, %v", ok, err)
	}
	if v, ok, err := db.Get([]byte("many.example")); !ok || err != nil || string(v) != "value-001" {
		t.Errorf("Get of a set whose first value is deleted = %q, %v, %v", v, ok, err)
	}
	btCheckLookups(t, db, want)
}

// FuzzBTreeOpen feeds arbitrary bytes to the reader: opening, walking and
// looking up must end in a result or an error, never a panic or a hang.
// Seeds are in testdata/fuzz/FuzzBTreeOpen (small vectors made with the
// real tools and with the writer).
func FuzzBTreeOpen(f *testing.F) {
	good, _ := btTestFile(f)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("open: unexpected error kind: %v", err)
			}
			return
		}
		var keys [][]byte
		err = db.Walk(func(k, v []byte) error {
			if len(keys) < 16 && (len(keys) == 0 || !bytes.Equal(keys[len(keys)-1], k)) {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Walk: unexpected error kind: %v", err)
		}
		keys = append(keys, nil, []byte("connect:10.0.0.1"), []byte{0xff})
		for _, k := range keys {
			if _, _, err := db.Get(k); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get: unexpected error kind: %v", err)
			}
			if _, err := db.GetAll(k); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("GetAll: unexpected error kind: %v", err)
			}
		}
	})
}

// TestBTreeRealLookups makes the real Berkeley DB library search our
// files: `makemap -o` opens an existing map and puts each input line with
// DB_NOOVERWRITE, which first looks the key up, so every key already in
// the file is reported as a duplicate. Keys that are absent must not be.
func TestBTreeRealLookups(t *testing.T) {
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	dir := t.TempDir()
	for _, name := range []string{"small", "access5000", "access512", "bigendian", "ovkeys512", "ovkeys2k", "overflow", "page64k"} {
		ds := btDatasets()[name]
		t.Run(name, func(t *testing.T) {
			ours := btWrite(t, dir, name, ds.recs, ds.opts)
			var in strings.Builder
			want := 0
			for _, r := range ds.recs {
				// makemap reads lines of at most 1022 bytes; keys
				// longer than that cannot be given to it.
				if len(r.k)+2 > 1022 {
					continue
				}
				in.WriteString(r.k + " x\n")
				want++
			}
			in.WriteString("absent.example x\n" + ds.recs[0].k + "~ x\n")
			cmd := exec.Command(makemap, "-o", "-f", "btree", ours)
			cmd.Stdin = strings.NewReader(in.String())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 65 {
				t.Fatalf("makemap -o: %v, want exit 65\n%.2000s", err, stderr.String())
			}
			got := strings.Count(stderr.String(), ": duplicate key")
			if got != want {
				t.Fatalf("real BDB found %d of %d keys in our file\n%.2000s", got, want, stderr.String())
			}
			if strings.Contains(stderr.String(), "absent.example") || strings.Contains(stderr.String(), ds.recs[0].k+"~") {
				t.Fatalf("real BDB found an absent key:\n%.2000s", stderr.String())
			}
		})
	}
}

// TestBTreeSizes pins the overflow threshold to what db5.3_stat -d
// printed as "Overflow key/data size" for each page size, and the prefix
// function to __bam_defpfx's results.
func TestBTreeSizes(t *testing.T) {
	for _, tc := range []struct{ ps, hdr, want int }{
		{4096, pageHdrSize, 1007}, {4096, pageHdrSum, 1006}, {512, pageHdrSize, 111}, {65536, pageHdrSize, 16367},
	} {
		t.Run(fmt.Sprintf("ovfl%d-%d", tc.ps, tc.hdr), func(t *testing.T) {
			if got := btOvflSize(tc.ps, tc.hdr); got != tc.want {
				t.Errorf("btOvflSize(%d, %d) = %d, want %d", tc.ps, tc.hdr, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"connect:10.117.21.115", "connect:10.117.248.30", 17},
		{"connect:10.1", "connect:10.12", 13},
		{"a", "b", 1},
		{"", "x", 1},
	} {
		t.Run("prefix-"+tc.b, func(t *testing.T) {
			if got := btPrefix([]byte(tc.a), []byte(tc.b)); got != tc.want {
				t.Errorf("btPrefix(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
		})
	}
	for _, ps := range []int{256, 1000, 131072} {
		w := NewWriter(BTree, WriterOptions{PageSize: ps})
		if _, err := w.WriteTo(io.Discard); err == nil {
			t.Errorf("page size %d: no error", ps)
		}
	}
}
