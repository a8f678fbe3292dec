// SPDX-License-Identifier: MIT

package makemap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLine(t *testing.T) {
	def := SyntaxOptions{Comment: '#'}
	tests := []struct {
		name     string
		line     Line
		opts     SyntaxOptions
		kind     LineKind
		key, val string
	}{
		{"simple", Line{[]byte("Connect:10.0.0 RELAY"), true}, def, LineRecord, "connect:10.0.0", "RELAY"},
		{"tabs and spaces", Line{[]byte("a\t \tb  c \r"), true}, def, LineRecord, "a", "b  c \r"},
		{"value keeps hash", Line{[]byte("a OK # x"), true}, def, LineRecord, "a", "OK # x"},
		{"utf8 key kept", Line{[]byte("ÄB\xc3\x84 v"), true}, def, LineRecord, "\xc3\x84b\xc3\x84", "v"},
		{"keep case", Line{[]byte("AbC v"), true}, SyntaxOptions{Comment: '#', KeepCase: true}, LineRecord, "AbC", "v"},
		{"empty", Line{nil, true}, def, LineSkip, "", ""},
		{"comment", Line{[]byte("# x y"), true}, def, LineSkip, "", ""},
		{"other comment char", Line{[]byte("; x y"), true}, SyntaxOptions{Comment: ';'}, LineSkip, "", ""},
		{"hash is data without comment char", Line{[]byte("#x y"), true}, SyntaxOptions{}, LineRecord, "#x", "y"},
		{"leading space", Line{[]byte(" a b"), true}, def, LineLeadSpace, "", ""},
		{"leading tab", Line{[]byte("\ta b"), true}, def, LineLeadSpace, "", ""},
		{"leading vt", Line{[]byte("\va b"), true}, def, LineLeadSpace, "", ""},
		{"no rhs", Line{[]byte("Key"), true}, def, LineNoRHS, "key", ""},
		{"no rhs trailing blanks", Line{[]byte("Key  \t"), true}, def, LineNoRHS, "key", ""},
		{"empty allowed", Line{[]byte("Key  "), true}, SyntaxOptions{Comment: '#', AllowEmpty: true}, LineRecord, "key", ""},
		{"nul ends the line", Line{[]byte("a b\x00c"), true}, def, LineRecord, "a", "b"},
		{"nul in key", Line{[]byte("a\x00 b"), true}, def, LineNoRHS, "a", ""},
		{"too long", Line{[]byte("a b"), false}, def, LineTooLong, "", ""},
		{"with -N", Line{[]byte("A b"), true}, SyntaxOptions{Comment: '#', IncludeNull: true}, LineRecord, "a\x00", "b\x00"},
		{"-N empty", Line{[]byte("A"), true}, SyntaxOptions{IncludeNull: true, AllowEmpty: true}, LineRecord, "a\x00", "\x00"},
		{"sep colon", Line{[]byte("a b::c d"), true}, SyntaxOptions{Comment: '#', Sep: ':'}, LineRecord, "a b", "c d"},
		{"sep leading space is key", Line{[]byte(" a:b"), true}, SyntaxOptions{Comment: '#', Sep: ':'}, LineRecord, " a", "b"},
		{"sep checked before folding", Line{[]byte("Ab"), true}, SyntaxOptions{Sep: 'a'}, LineNoRHS, "ab", ""},
		{"sep first char", Line{[]byte("abc"), true}, SyntaxOptions{Sep: 'a', AllowEmpty: true}, LineRecord, "", "bc"},
		{"sep no rhs", Line{[]byte("key3:"), true}, SyntaxOptions{Comment: '#', Sep: ':'}, LineNoRHS, "key3", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, key, val := ParseLine(tc.line, tc.opts)
			if kind != tc.kind {
				t.Fatalf("kind = %d, want %d", kind, tc.kind)
			}
			if diff := cmp.Diff(tc.key, string(key)); diff != "" {
				t.Errorf("key (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.val, string(val)); diff != "" {
				t.Errorf("val (-want +got):\n%s", diff)
			}
		})
	}
}

type chunk struct {
	Text     string
	Complete bool
	N        int
}

func scanAll(in string) []chunk {
	var got []chunk
	sc := NewScanner(strings.NewReader(in))
	for sc.Scan() {
		l := sc.Line()
		got = append(got, chunk{string(l.Text), l.Complete, sc.LineNo()})
	}
	return got
}

func TestScanner(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		in   string
		want []chunk
	}{
		{"empty", "", nil},
		{"lines", "a b\n\nc d\n", []chunk{{"a b", true, 1}, {"", true, 2}, {"c d", true, 3}}},
		{"last without newline", "a b\nc d", []chunk{{"a b", true, 1}, {"c d", true, 2}}},
		{"1022 accepted", x(1022) + "\n", []chunk{{x(1022), true, 1}}},
		{"1023 rejected, newline is next line", x(1023) + "\nb c\n", []chunk{{x(1023), false, 1}, {"", true, 2}, {"b c", true, 3}}},
		{"1023 at eof rejected", x(1023), []chunk{{x(1023), false, 1}}},
		{"1022 at eof accepted", x(1022), []chunk{{x(1022), true, 1}}},
		{"tail becomes a line", x(1100) + "\n", []chunk{{x(1023), false, 1}, {x(77), true, 2}}},
		{"nul hides the newline", "a\x00b c\nd e\n", []chunk{{"a\x00b c", false, 1}, {"d e", true, 2}}},
		{"nul at eof", "a\x00b c", []chunk{{"a\x00b c", true, 1}}},
		{"crlf", "a b\r\n", []chunk{{"a b\r", true, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, scanAll(tc.in)); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseLine checks ParseLine's invariants on any line and options.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte("Connect:10.0.0 RELAY"), byte('#'), byte(0), false, false, false)
	f.Add([]byte(" lead b"), byte('#'), byte(0), false, false, false)
	f.Add([]byte("k1:v1::v2"), byte('#'), byte(':'), true, true, true)
	f.Add([]byte("K\x00 v"), byte(0), byte(0), false, true, false)
	f.Fuzz(func(t *testing.T, text []byte, comment, sep byte, keepCase, allowEmpty, null bool) {
		o := SyntaxOptions{Comment: comment, Sep: sep, KeepCase: keepCase, AllowEmpty: allowEmpty, IncludeNull: null}
		kind, key, val := ParseLine(Line{Text: text, Complete: true}, o)
		c := text
		if i := bytes.IndexByte(c, 0); i >= 0 {
			c = c[:i]
		}
		switch kind {
		case LineSkip:
			if len(c) != 0 && c[0] != comment {
				t.Fatalf("skipped %q", text)
			}
		case LineRecord, LineNoRHS:
			k := key
			if null && kind == LineRecord {
				if len(key) == 0 || key[len(key)-1] != 0 || len(val) == 0 || val[len(val)-1] != 0 {
					t.Fatalf("-N record %q %q lacks NULs", key, val)
				}
				k = key[:len(key)-1]
			}
			if bytes.IndexByte(k, 0) >= 0 || bytes.IndexByte(cString(val), '\n') >= 0 && bytes.IndexByte(c, '\n') < 0 {
				t.Fatalf("bad record %q %q from %q", key, val, text)
			}
			if len(k) > len(c) {
				t.Fatalf("key %q longer than line %q", key, c)
			}
			for _, ch := range c[:len(k)] {
				if sep == 0 && isSpace(ch) || sep != 0 && ch == sep {
					t.Fatalf("key %q holds a separator", key)
				}
			}
			for _, ch := range k {
				if !keepCase && 'A' <= ch && ch <= 'Z' {
					t.Fatalf("key %q not folded", key)
				}
			}
			if kind == LineNoRHS && allowEmpty {
				t.Fatalf("no RHS with -e")
			}
			if kind == LineRecord && len(cString(val)) == 0 && !allowEmpty {
				t.Fatalf("empty value without -e")
			}
		case LineLeadSpace:
			if sep != 0 || !isSpace(c[0]) {
				t.Fatalf("leading space for %q", text)
			}
		default:
			t.Fatalf("kind %d for a complete line", kind)
		}
	})
}

// FuzzSource checks that the scanner's chunks account for every input
// byte, are at most 1023 bytes long, and are numbered from 1.
func FuzzSource(f *testing.F) {
	f.Add([]byte("a b\n# c\n\n d e\nf\n"))
	f.Add([]byte(strings.Repeat("y", 1500) + "\nk v"))
	f.Add([]byte("a\x00b\nc d\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := NewScanner(bytes.NewReader(in))
		total := 0
		for sc.Scan() {
			l := sc.Line()
			if len(l.Text) > lineBuf-1 {
				t.Fatalf("chunk of %d bytes", len(l.Text))
			}
			total += len(l.Text)
			if total < len(in) && in[total] == '\n' {
				total++
			}
			if sc.LineNo() < 1 {
				t.Fatalf("line number %d", sc.LineNo())
			}
			ParseLine(l, SyntaxOptions{Comment: '#'})
		}
		if total != len(in) {
			t.Fatalf("chunks cover %d of %d bytes", total, len(in))
		}
	})
}
