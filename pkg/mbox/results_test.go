// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dvFetch is one FETCH result real Dovecot gave (tricky/results.txt).
type dvFetch struct {
	Seq          int
	UID          uint32
	Flags        string // as printed, e.g. `\Recent` or `\Seen`
	InternalDate string
	Size         int64
	Body         []byte // nil when not fetched
}

type dvPhase struct {
	Select      string // the SELECT summary line
	UIDValidity uint32
	UIDNext     uint32
	Exists      int
	Fetches     []dvFetch
}

type dvCase struct {
	Name   string
	Phases map[string]*dvPhase // "A", "B", "C"
}

var (
	reFetch = regexp.MustCompile(`^\s+\* (\d+) FETCH \((.*)\)\s*$`)
	reUID   = regexp.MustCompile(`UID (\d+)`)
	reFlags = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
	reDate  = regexp.MustCompile(`INTERNALDATE "([^"]*)"`)
	reSize  = regexp.MustCompile(`RFC822\.SIZE (\d+)`)
	reUV    = regexp.MustCompile(`UIDVALIDITY (\d+)`)
	reNext  = regexp.MustCompile(`UIDNEXT (\d+)`)
	reExist = regexp.MustCompile(`\* (\d+) EXISTS`)
)

// readResults parses tricky/results.txt as written by tools/tricky-run.py.
func readResults(t *testing.T, path string) map[string]*dvCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*dvCase{}
	var cur *dvCase
	var ph *dvPhase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "== "):
			cur = &dvCase{Name: line[3:], Phases: map[string]*dvPhase{}}
			out[cur.Name] = cur
		case strings.HasPrefix(line, " phase "):
			ph = &dvPhase{}
			cur.Phases[line[7:8]] = ph
		case strings.HasPrefix(line, "  SELECT "):
			ph.Select = line
			if m := reUV.FindStringSubmatch(line); m != nil {
				v, _ := strconv.ParseUint(m[1], 10, 32)
				ph.UIDValidity = uint32(v)
			}
			if m := reNext.FindStringSubmatch(line); m != nil {
				v, _ := strconv.ParseUint(m[1], 10, 32)
				ph.UIDNext = uint32(v)
			}
			if m := reExist.FindStringSubmatch(line); m != nil {
				ph.Exists, _ = strconv.Atoi(m[1])
			}
		case reFetch.MatchString(line):
			m := reFetch.FindStringSubmatch(line)
			var fe dvFetch
			fe.Seq, _ = strconv.Atoi(m[1])
			if x := reUID.FindStringSubmatch(m[2]); x != nil {
				v, _ := strconv.ParseUint(x[1], 10, 32)
				fe.UID = uint32(v)
			}
			if x := reFlags.FindStringSubmatch(m[2]); x != nil {
				fe.Flags = x[1]
			}
			if x := reDate.FindStringSubmatch(m[2]); x != nil {
				fe.InternalDate = x[1]
			}
			if x := reSize.FindStringSubmatch(m[2]); x != nil {
				fe.Size, _ = strconv.ParseInt(x[1], 10, 64)
			}
			ph.Fetches = append(ph.Fetches, fe)
		case strings.HasPrefix(line, "      BODY[] = "):
			b, err := pyBytes(strings.TrimPrefix(line, "      BODY[] = "))
			if err != nil {
				t.Fatalf("%s: %v", cur.Name, err)
			}
			ph.Fetches[len(ph.Fetches)-1].Body = b
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pyBytes decodes a Python bytes repr (b'...' or b"...").
func pyBytes(s string) ([]byte, error) {
	if len(s) < 3 || s[0] != 'b' || (s[1] != '\'' && s[1] != '"') || s[len(s)-1] != s[1] {
		return nil, strconv.ErrSyntax
	}
	s = s[2 : len(s)-1]
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, strconv.ErrSyntax
		}
		switch s[i] {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case '\\', '\'', '"':
			out = append(out, s[i])
		case 'x':
			if i+2 >= len(s)+0 && i+2 > len(s) {
				return nil, strconv.ErrSyntax
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, strconv.ErrSyntax
		}
	}
	return out, nil
}

// imapBody converts stored message bytes to what Dovecot sends for BODY[]:
// bare LF as CRLF, NUL as 0x80.
func imapBody(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/20)
	for i, c := range b {
		switch {
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			out = append(out, '\r', '\n')
		case c == 0:
			out = append(out, 0x80)
		default:
			out = append(out, c)
		}
	}
	return out
}
