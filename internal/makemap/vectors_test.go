// SPDX-License-Identifier: MIT

package makemap

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/bdb"
)

// makemapCase is one makemap line of the shared cases.tsv.
type makemapCase struct {
	name, input string
	args        []string
	rc, records int
}

func readCases(t *testing.T, dir string) []makemapCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []makemapCase
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 4 || !strings.HasPrefix(f[1], "makemap ") {
			continue
		}
		cmdline, input, ok := strings.Cut(f[1], " < ")
		if !ok {
			t.Fatalf("cases.tsv: no input in %q", f[1])
		}
		words := strings.Fields(cmdline)[1:]
		rc, _ := strconv.Atoi(f[2])
		n, _ := strconv.Atoi(f[3])
		// The last two words are the type and the map name.
		cases = append(cases, makemapCase{name: f[0], input: input, args: words[:len(words)-2], rc: rc, records: n})
	}
	if len(cases) == 0 {
		t.Fatal("cases.tsv has no makemap cases")
	}
	return cases
}

// TestLoadVectors feeds every makemap case's input through the option
// parser, the line parser and the duplicate handling, and compares the
// messages, the -v output, the status and the number of records with what
// the real makemap did.
func TestLoadVectors(t *testing.T) {
	dir := testutil.SharedTestdata(t, "makemap")
	for _, c := range readCases(t, dir) {
		t.Run(c.name, func(t *testing.T) {
			o, _, err := parseArgs("makemap", append(append([]string{}, c.args...), "hash", c.name), func(string) {})
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.Open(filepath.Join(dir, c.input))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var stdout, stderr bytes.Buffer
			out := bufio.NewWriter(&stdout)
			b := &builder{opts: o, prog: "makemap", stdout: out, stderr: &stderr}
			w := bdb.NewWriter(bdb.Hash, bdb.WriterOptions{Duplicates: o.Duplicates})
			rc := b.load(in, w, o.Duplicates, nil)
			out.Flush()
			if rc != c.rc && !(c.rc == 0 && rc == exOK) {
				t.Errorf("status %d, want %d", rc, c.rc)
			}
			if w.Len() != c.records {
				t.Errorf("%d records, want %d", w.Len(), c.records)
			}
			want, _ := os.ReadFile(filepath.Join(dir, c.name+".stderr.txt"))
			if diff := cmp.Diff(string(want), stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if want, err := os.ReadFile(filepath.Join(dir, c.name+".stdout.txt")); err == nil {
				if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
		})
	}
}
