// SPDX-License-Identifier: MIT

package makemap_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// genOptions shape a generated source file.
type genOptions struct {
	n       int  // lines
	bad     bool // add bad and odd lines
	sep     byte // separator to write; 0 for white space
	comment byte // comment character to write; 0 for '#'
	dupPct  int  // percentage of lines that repeat an earlier key
}

// genSource makes makemap input from a seeded generator: access-style keys
// in mixed case, values with inner blanks, repeated keys and, with bad,
// every kind of line makemap complains about or treats specially.
func genSource(seed int64, g genOptions) []byte {
	r := rand.New(rand.NewSource(seed))
	const keyChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@:+"
	const valChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .:\"<>#"
	word := func(chars string, min, max int) string {
		b := make([]byte, min+r.Intn(max-min+1))
		for i := range b {
			b[i] = chars[r.Intn(len(chars))]
		}
		return string(b)
	}
	tags := []string{"Connect:", "From:", "To:", "Spam:", ""}
	comment := g.comment
	if comment == 0 {
		comment = '#'
	}
	sep := func() string {
		if g.sep != 0 {
			return strings.Repeat(string(g.sep), 1+r.Intn(2))
		}
		return []string{" ", "\t", "  \t ", "\t\t"}[r.Intn(4)]
	}
	var keys []string
	var buf bytes.Buffer
	for i := 0; i < g.n; i++ {
		var key string
		if len(keys) > 0 && r.Intn(100) < g.dupPct {
			key = keys[r.Intn(len(keys))]
			if r.Intn(2) == 0 {
				key = strings.ToUpper(key) // folds to the same key without -f
			}
		} else {
			key = tags[r.Intn(len(tags))] + word(keyChars, 1, 40) + fmt.Sprint(i)
			keys = append(keys, key)
		}
		val := []string{"OK", "RELAY", "REJECT", "DISCARD", "ERROR:\"550 no\"", "ERROR:5.7.1:550 go away"}[r.Intn(6)]
		if r.Intn(3) == 0 {
			val = word(valChars, 1, 200)
			val = strings.TrimLeft(val, " ")
			if val == "" {
				val = "x"
			}
		}
		line := key + sep() + val
		if g.bad {
			switch r.Intn(40) {
			case 0:
				line = " " + line
			case 1:
				line = "\t" + line
			case 2:
				line = key // no RHS
			case 3:
				line = key + sep() // no RHS, trailing separators
			case 4:
				line = string(comment) + line
			case 5:
				line = ""
			case 6:
				line = key + sep() + strings.Repeat("v", 1023+r.Intn(1500)) // too long, tail is a line
			case 7:
				line = key + sep() + strings.Repeat("w", 1022-len(key)-1) // 1022 or so: at the limit
			case 8:
				line += "\r" // CRLF
			case 9:
				line += "  \t" // trailing blanks kept
			case 10:
				line = key + "\xc3\x84\xff" + sep() + val + "\x80" // 8-bit bytes
			case 11:
				line = "#" + line // data unless '#' is the comment char
			case 12:
				line = string(g.sep) + line // a leading separator
			}
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	if g.bad {
		buf.WriteString("last.line.without.newline value")
	}
	return buf.Bytes()
}

// TestManyDuplicates stores hundreds of values under a few keys, enough
// for off-page duplicate trees in both access methods.
func TestManyDuplicates(t *testing.T) {
	tl := needTools(t)
	var buf bytes.Buffer
	for i := 0; i < 600; i++ {
		fmt.Fprintf(&buf, "many.example value %d %s\n", i, strings.Repeat("x", i%50))
		if i%3 == 0 {
			fmt.Fprintf(&buf, "Some.Example v%d\n", i)
		}
		fmt.Fprintf(&buf, "single%d.example one\n", i)
	}
	for _, typ := range []string{"hash", "btree"} {
		t.Run(typ, func(t *testing.T) {
			p := newPair(t, nil)
			compareRun(t, tl, p, "", buf.Bytes(), "-d", typ, "dups")
			compareMaps(t, tl, p, typ, "dups")
			// Then -o -d, each program appending to the map it made.
			compareRun(t, tl, p, "", []byte("many.example appended\nnew.example new\n"), "-o", "-d", typ, "dups")
			compareMaps(t, tl, p, typ, "dups")
		})
	}
}

// TestGenerated builds maps from generated sources with both programs and
// every flag that changes parsing or storing.
func TestGenerated(t *testing.T) {
	tl := needTools(t)
	tests := []struct {
		name string
		typ  string
		args []string
		gen  genOptions
	}{
		{"hash 100000", "hash", nil, genOptions{n: 100000, dupPct: 1}},
		{"btree 30000", "btree", nil, genOptions{n: 30000, dupPct: 1}},
		{"bad lines", "hash", nil, genOptions{n: 3000, bad: true, dupPct: 5}},
		{"bad lines btree", "btree", nil, genOptions{n: 3000, bad: true, dupPct: 5}},
		{"-N", "hash", []string{"-N"}, genOptions{n: 3000, bad: true, dupPct: 5}},
		{"-f", "hash", []string{"-f"}, genOptions{n: 3000, bad: true, dupPct: 5}},
		{"-d", "hash", []string{"-d"}, genOptions{n: 3000, bad: true, dupPct: 20}},
		{"-d btree", "btree", []string{"-d"}, genOptions{n: 3000, bad: true, dupPct: 20}},
		{"-r", "hash", []string{"-r"}, genOptions{n: 3000, bad: true, dupPct: 20}},
		{"-e", "hash", []string{"-e"}, genOptions{n: 3000, bad: true, dupPct: 5}},
		{"-t :", "hash", []string{"-t", ":"}, genOptions{n: 3000, bad: true, sep: ':', dupPct: 5}},
		{"-D ;", "hash", []string{"-D", ";"}, genOptions{n: 3000, bad: true, comment: ';', dupPct: 5}},
		{"-N -f -d -e -v btree", "btree", []string{"-N", "-f", "-d", "-e", "-v"}, genOptions{n: 2000, bad: true, dupPct: 10}},
		{"-v -r -t |", "hash", []string{"-v", "-r", "-t", "|"}, genOptions{n: 2000, bad: true, sep: '|', dupPct: 10}},
		{"implicit", "implicit", nil, genOptions{n: 2000, bad: true, dupPct: 5}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := int64(1000 + i)
			input := genSource(seed, tc.gen)
			p := newPair(t, nil)
			args := append(append([]string{}, tc.args...), tc.typ, "gen")
			r := compareRun(t, tl, p, "", input, args...)
			if tc.gen.bad && (r.rc != 65 || r.stderr == "") {
				t.Errorf("generated bad lines gave status %d and stderr %q; the generator no longer exercises errors", r.rc, r.stderr)
			}
			if strings.Contains(strings.Join(tc.args, " "), "-v") && r.stdout == "" {
				t.Error("-v printed nothing")
			}
			var extra []string
			if tc.gen.sep != 0 {
				extra = []string{"-t", string(tc.gen.sep)}
			}
			compareMaps(t, tl, p, tc.typ, "gen", extra...)
			if t.Failed() {
				t.Logf("generator seed %d", seed)
			}
		})
	}
}

// TestRealAppendsToOurs has the real makemap -o add records to maps our
// makemap wrote (so Berkeley DB itself updates our pages in place), and
// compares with the same done to the real makemap's maps.
func TestRealAppendsToOurs(t *testing.T) {
	tl := needTools(t)
	tests := []struct {
		name, typ string
		flags     []string
	}{
		{"hash", "hash", nil},
		{"btree", "btree", nil},
		{"hash -d", "hash", []string{"-d"}},
		{"btree -d", "btree", []string{"-d"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := genSource(int64(2000+i), genOptions{n: 5000, dupPct: 3})
			more := genSource(int64(3000+i), genOptions{n: 5000, dupPct: 3})
			p := newPair(t, nil)
			args := append(append([]string{}, tc.flags...), tc.typ, "m")
			compareRun(t, tl, p, "", first, args...)
			ro := run(t, tl.real, p.ours, "", more, append([]string{"-o"}, args...)...)
			rr := run(t, tl.real, p.real, "", more, append([]string{"-o"}, args...)...)
			if ro != rr {
				t.Errorf("real makemap -o on our map: %d %q; on its own: %d %q", ro.rc, ro.stderr, rr.rc, rr.stderr)
			}
			compareMaps(t, tl, p, tc.typ, "m")
		})
	}
}
