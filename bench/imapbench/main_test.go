// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestLiteralSize(t *testing.T) {
	for _, c := range []struct {
		in    string
		n     int64
		isLit bool
	}{
		{"* 1 FETCH (BODY[] {123}", 123, true},
		{"* 1 FETCH (BINARY[1] ~{7}", 7, true},
		{"a APPEND x {5+}", 5, true},
		{"* OK {not a number}", 0, false},
		{"* 1 FETCH (FLAGS ())", 0, false},
		{"}", 0, false},
	} {
		n, ok := literalSize(c.in)
		if n != c.n || ok != c.isLit {
			t.Errorf("literalSize(%q) = %d, %v; want %d, %v", c.in, n, ok, c.n, c.isLit)
		}
	}
}

func TestReadLine(t *testing.T) {
	in := "* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n* 2 FETCH (X {0}\r\n Y {2}\r\nzz)\r\nb1 OK done\r\n"
	cl := &client{r: bufio.NewReader(strings.NewReader(in))}
	var lit int64
	var got []string
	for {
		l, err := cl.readLine(&lit)
		if err != nil {
			break
		}
		got = append(got, l)
	}
	want := []string{"* 1 FETCH (BODY[] {5})", "* 2 FETCH (X {0} Y {2})", "b1 OK done"}
	if strings.Join(got, "|") != strings.Join(want, "|") || lit != 7 {
		t.Errorf("got %q, %d literal bytes; want %q, 7", got, lit, want)
	}
}

func TestReadStat(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getppid() {
		t.Errorf("ppid %d, want %d", st.ppid, os.Getppid())
	}
	if tr := tree(os.Getpid()); len(tr) == 0 || tr[0] != os.Getpid() {
		t.Errorf("tree(self) = %v", tr)
	}
}

func TestMedian(t *testing.T) {
	s := series{{3, 30}, {1, 10}, {2, 20}}
	if m := s.median(); m != (sample{2, 20}) {
		t.Errorf("median %v", m)
	}
	if m := (series{{1, 1}, {3, 3}}).median(); m != (sample{2, 2}) {
		t.Errorf("median of two %v", m)
	}
}

// FuzzReadLine: any server output is read without a panic, and literal
// bytes are never counted beyond the input.
func FuzzReadLine(f *testing.F) {
	f.Add("* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\nb1 OK\r\n")
	f.Add("* {99999999999}\r\n")
	f.Add("{-1}\r\n{+}\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		cl := &client{r: bufio.NewReader(strings.NewReader(in))}
		var lit int64
		for {
			if _, err := cl.readLine(&lit); err != nil {
				break
			}
		}
		if lit < 0 || lit > int64(len(in)) {
			t.Fatalf("%d literal bytes from %d bytes of input", lit, len(in))
		}
	})
}
