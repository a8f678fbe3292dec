// SPDX-License-Identifier: MIT

package bdb

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// kv is one record of a writer test, in insertion order.
type kv struct{ k, v string }

// writerCase is one input of the differential writer tests.
type writerCase struct {
	name string
	recs []kv
	opts WriterOptions
	// text marks inputs a real makemap could have read: lowercase keys
	// without blanks, values without newlines. Those also go through
	// makemap -o, whose duplicate-key check looks every key up with BDB.
	text bool
}

// makemapInput parses makemap source lines the way makemap does by
// default (key to the first blank, lowercased; value after the blanks),
// skipping comments, blank lines and lines makemap rejects.
func makemapInput(t *testing.T, name string) []kv {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "makemap", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []kv
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" || line[0] == '#' || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		i := strings.IndexAny(line, " \t\v\f\r")
		if i < 0 {
			continue
		}
		k := asciiLower(line[:i])
		v := strings.TrimLeft(line[i:], " \t\v\f\r")
		if v == "" || seen[k] && !strings.HasPrefix(name, "manydup") {
			continue
		}
		seen[k] = true
		out = append(out, kv{k, v})
	}
	return out
}

// loadInput reads db_load -T input: key line, value line.
func loadInput(t *testing.T, name string) []kv {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "makemap", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var out []kv
	for i := 0; i+1 < len(lines); i += 2 {
		out = append(out, kv{lines[i], lines[i+1]})
	}
	return out
}

func randBytes(r *rand.Rand, min, max int, alphabet string) string {
	b := make([]byte, min+r.IntN(max-min+1))
	for i := range b {
		if alphabet == "" {
			b[i] = byte(r.UintN(256))
		} else {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
	}
	return string(b)
}

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789.-@:"

func writerCases(t *testing.T) []writerCase {
	r := rand.New(rand.NewPCG(1, 2))
	var cases []writerCase
	cases = append(cases,
		writerCase{name: "small", recs: makemapInput(t, "small.txt"), text: true},
		writerCase{name: "mixed", recs: makemapInput(t, "mixed.txt"), text: true},
		writerCase{name: "large", recs: makemapInput(t, "large.txt"), text: true},
		writerCase{name: "longvalue", recs: makemapInput(t, "longvalue.txt"), text: true},
		writerCase{name: "manydup", recs: makemapInput(t, "manydup.txt"), opts: WriterOptions{Duplicates: true}},
		writerCase{name: "overflow", recs: loadInput(t, "overflow.load")},
		writerCase{name: "p512", recs: loadInput(t, "p512.load"), opts: WriterOptions{PageSize: 512}},
		writerCase{name: "mixed_be", recs: loadInput(t, "mixed.load"), opts: WriterOptions{BigEndian: true}},
		writerCase{name: "empty"},
	)

	// Random binary keys and values, some longer than a page.
	var bin []kv
	seen := map[string]bool{}
	for len(bin) < 3000 {
		k := randBytes(r, 0, 60, "")
		if seen[k] {
			continue
		}
		seen[k] = true
		v := randBytes(r, 0, 80, "")
		if r.IntN(50) == 0 {
			v = randBytes(r, 900, 20000, "")
		}
		if r.IntN(200) == 0 {
			k += randBytes(r, 1100, 5000, "")
		}
		bin = append(bin, kv{k, v})
	}
	cases = append(cases, writerCase{name: "random-binary", recs: bin})
	cases = append(cases, writerCase{name: "random-binary-p512-be", recs: bin, opts: WriterOptions{PageSize: 512, BigEndian: true}})
	cases = append(cases, writerCase{name: "random-binary-p1024", recs: bin[:1000], opts: WriterOptions{PageSize: 1024}})
	// At 64 KiB an empty page's hf_offset (65536) wraps to 0, as in BDB.
	cases = append(cases, writerCase{name: "random-binary-p65536", recs: bin, opts: WriterOptions{PageSize: 65536}})

	// Keys where one is a prefix of another, the case a wrong page order
	// breaks for real lookups.
	var pre []kv
	for i := 0; i < 4000; i++ {
		base := fmt.Sprintf("connect:10.%d.%d", i/250, i%250)
		pre = append(pre, kv{base, "REJECT"})
		for _, suf := range []string{"0", "1", "12", "5"} {
			if i%3 == 0 {
				pre = append(pre, kv{base + suf, "OK"})
			}
		}
	}
	pre = dedup(pre)
	cases = append(cases, writerCase{name: "prefix-keys", recs: pre, text: true})
	cases = append(cases, writerCase{name: "prefix-keys-p512", recs: pre, opts: WriterOptions{PageSize: 512}, text: true})

	// Duplicates: small sets on page, big sets off page, long values in
	// sets (overflow items inside the Recno tree), at two page sizes.
	var dups []kv
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("dup%d.example", i)
		n := 1 + r.IntN(4)
		if i%20 == 0 {
			n = 80 + r.IntN(900)
		}
		for j := 0; j < n; j++ {
			v := fmt.Sprintf("v%d-%s", j, randBytes(r, 0, 12, lowerAlnum))
			if i%50 == 7 && j%3 == 0 {
				v = randBytes(r, 1000, 3000, lowerAlnum)
			}
			dups = append(dups, kv{k, v})
		}
	}
	r.Shuffle(len(dups), func(i, j int) { dups[i], dups[j] = dups[j], dups[i] })
	cases = append(cases, writerCase{name: "duplicates", recs: dups, opts: WriterOptions{Duplicates: true}})
	cases = append(cases, writerCase{name: "duplicates-p512-be", recs: dups, opts: WriterOptions{Duplicates: true, PageSize: 512, BigEndian: true}})

	// 100,000 access-map-like entries.
	cases = append(cases, writerCase{name: "access-100k", recs: accessRecords(100000), text: true})
	return cases
}

func dedup(recs []kv) []kv {
	seen := map[string]bool{}
	var out []kv
	for _, r := range recs {
		if !seen[r.k] {
			seen[r.k] = true
			out = append(out, r)
		}
	}
	return out
}

// accessRecords makes n distinct access-map entries.
func accessRecords(n int) []kv {
	tags := []string{"connect:", "from:", "to:", ""}
	vals := []string{"OK", "RELAY", "REJECT", "DISCARD", `ERROR:"550 5.7.1 Go away"`, "SKIP"}
	out := make([]kv, n)
	for i := range out {
		var k string
		switch i % 4 {
		case 0:
			k = fmt.Sprintf("connect:10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		case 1:
			k = fmt.Sprintf("from:user%d@example%d.com", i, i%977)
		case 2:
			k = fmt.Sprintf("to:postmaster@host%d.example.org", i)
		default:
			k = fmt.Sprintf("%shost%d.domain%d.example", tags[i%3], i, i%101)
		}
		out[i] = kv{k, vals[i%len(vals)]}
	}
	return out
}

// build writes recs with our writer into dir/name.db.
func build(t testing.TB, dir, name string, recs []kv, opts WriterOptions) string {
	t.Helper()
	w := NewWriter(Hash, opts)
	for _, r := range recs {
		if err := w.Put([]byte(r.k), []byte(r.v)); err != nil {
			t.Fatalf("Put(%q): %v", r.k, err)
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
	if fi, _ := os.Stat(path); fi.Size() != n {
		t.Fatalf("WriteTo reported %d bytes, file has %d", n, fi.Size())
	}
	return path
}

// grouped returns each key's values in insertion order, and the keys in
// first-insertion order.
func grouped(recs []kv) (map[string][]string, []string) {
	m := map[string][]string{}
	var keys []string
	for _, r := range recs {
		if _, ok := m[r.k]; !ok {
			keys = append(keys, r.k)
		}
		m[r.k] = append(m[r.k], r.v)
	}
	return m, keys
}

// TestHashWriteRoundTrip reads every written file back with our reader:
// Walk lists each record once with duplicates in insertion order, and Get
// and GetAll find every key.
func TestHashWriteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := build(t, dir, tc.name, tc.recs, tc.opts)
			db, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ps := tc.opts.PageSize
			if ps == 0 {
				ps = 4096
			}
			if db.PageSize() != ps || db.BigEndian() != tc.opts.BigEndian || db.Duplicates() != tc.opts.Duplicates {
				t.Errorf("PageSize, BigEndian, Duplicates = %d %v %v", db.PageSize(), db.BigEndian(), db.Duplicates())
			}
			want, keys := grouped(tc.recs)
			got := map[string][]string{}
			var prev string
			err = db.Walk(func(k, v []byte) error {
				// A key's values come together, in stored order.
				if _, ok := got[string(k)]; ok && string(k) != prev {
					return fmt.Errorf("key %q listed twice apart", k)
				}
				prev = string(k)
				got[string(k)] = append(got[string(k)], string(v))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				want = map[string][]string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("Walk (-want +got):\n%.3000s", diff)
			}
			for _, k := range keys {
				v, ok, err := db.Get([]byte(k))
				if err != nil || !ok || string(v) != want[k][0] {
					t.Fatalf("Get(%q) = %.40q, %v, %v; want %.40q", k, v, ok, err, want[k][0])
				}
				if len(want[k]) > 1 {
					all, err := db.GetAll([]byte(k))
					if err != nil || len(all) != len(want[k]) {
						t.Fatalf("GetAll(%q): %d values, %v; want %d", k, len(all), err, len(want[k]))
					}
				}
			}
			if _, ok, err := db.Get([]byte("no such key\x01")); ok || err != nil {
				t.Errorf("Get(absent) = %v, %v", ok, err)
			}
		})
	}
}

// loadText escapes b for db_load -T input: backslash as \\, and every
// byte that is not printable ASCII as \hh.
func loadText(b string) string {
	var s strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\\':
			s.WriteString(`\\`)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&s, `\%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	return s.String()
}

// dumpPairs runs db5.3_dump -p and returns its records as "key\nvalue"
// strings, sorted.
func dumpPairs(t *testing.T, dump, path string) []string {
	t.Helper()
	out, err := exec.Command(dump, "-p", path).Output()
	if err != nil {
		t.Fatalf("%s -p %s: %v", dump, path, err)
	}
	var body []string
	inData := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "HEADER=END":
			inData = true
		case line == "DATA=END":
			inData = false
		case inData:
			body = append(body, line)
		}
	}
	if len(body)%2 != 0 {
		t.Fatalf("db_dump printed an odd number of data lines")
	}
	var pairs []string
	for i := 0; i < len(body); i += 2 {
		pairs = append(pairs, body[i]+"\n"+body[i+1])
	}
	slices.Sort(pairs)
	return pairs
}

func run(t *testing.T, name string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestHashWriteOracle checks written files with the Berkeley DB tools and
// the real makemap: db5.3_verify accepts them, db5.3_dump -p lists the
// same records as db5.3_dump of the same input loaded by db5.3_load, and
// makemap -u lists the same lines. For text inputs, makemap -o re-adding
// every key must report each one as a duplicate: that runs BDB's own
// lookup (binary search of the sorted pages) for every key of our file.
func TestHashWriteOracle(t *testing.T) {
	verify := testutil.Oracle(t, "db5.3_verify", "db5.3-util")
	dump := testutil.Oracle(t, "db5.3_dump", "db5.3-util")
	load := testutil.Oracle(t, "db5.3_load", "db5.3-util")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	dir := t.TempDir()
	for _, tc := range writerCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			path := build(t, dir, tc.name, tc.recs, tc.opts)

			out, err := run(t, verify, nil, path)
			if err != nil || strings.TrimSpace(out) != "BDB5105 Verification of "+path+" succeeded." {
				t.Fatalf("db5.3_verify: %v\n%.3000s", err, out)
			}

			var in strings.Builder
			for _, r := range tc.recs {
				in.WriteString(loadText(r.k) + "\n" + loadText(r.v) + "\n")
			}
			ref := filepath.Join(dir, tc.name+".ref.db")
			args := []string{"-T", "-t", "hash"}
			if tc.opts.Duplicates {
				args = append(args, "-c", "duplicates=1")
			}
			if tc.opts.PageSize != 0 {
				args = append(args, "-c", fmt.Sprintf("db_pagesize=%d", tc.opts.PageSize))
			}
			if out, err := run(t, load, []byte(in.String()), append(args, ref)...); err != nil {
				t.Fatalf("db5.3_load: %v\n%s", err, out)
			}
			if diff := cmp.Diff(dumpPairs(t, dump, ref), dumpPairs(t, dump, path)); diff != "" {
				t.Errorf("db5.3_dump -p of ours differs from the real load (-want +got):\n%.3000s", diff)
			}

			// Split the expected listing into lines as the real one is:
			// binary values may hold newlines.
			var wantText strings.Builder
			for _, r := range tc.recs {
				wantText.WriteString(string(cutNUL([]byte(r.k))) + "\t" + string(cutNUL([]byte(r.v))) + "\n")
			}
			want := strings.Split(strings.TrimSuffix(wantText.String(), "\n"), "\n")
			if len(tc.recs) == 0 {
				want = nil
			}
			cmd := exec.Command(makemap, "-u", "hash", path)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("makemap -u: %v\n%s", err, stderr.String())
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if len(tc.recs) == 0 {
				got = nil
			}
			slices.Sort(want)
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("makemap -u (-want +got):\n%.3000s", diff)
			}

			if !tc.text {
				return
			}
			cp := filepath.Join(dir, tc.name+".copy.db")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var src strings.Builder
			for _, r := range tc.recs {
				src.WriteString(r.k + " NEW\n")
			}
			cmd = exec.Command(makemap, "-o", "hash", cp)
			cmd.Stdin = strings.NewReader(src.String())
			stderr.Reset()
			cmd.Stderr = &stderr
			cmd.Run()
			dupLines := strings.Count(stderr.String(), ": duplicate key")
			if dupLines != len(tc.recs) {
				t.Errorf("makemap -o found %d of %d keys as duplicates:\n%.2000s", dupLines, len(tc.recs), stderr.String())
			}
		})
	}
}
