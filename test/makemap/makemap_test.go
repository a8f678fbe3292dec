// SPDX-License-Identifier: MIT

package makemap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// vectorCase is a makemap line of the shared cases.tsv.
type vectorCase struct {
	name, input, rc string
	args            []string
}

func vectorCases(t *testing.T, dir string) []vectorCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []vectorCase
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 4 || !strings.HasPrefix(f[1], "makemap ") {
			continue
		}
		cmdline, input, _ := strings.Cut(f[1], " < ")
		w := strings.Fields(cmdline)[1:]
		cs = append(cs, vectorCase{name: f[0], input: input, rc: f[2], args: w[:len(w)-2]})
	}
	if len(cs) == 0 {
		t.Fatal("no makemap cases in cases.tsv")
	}
	return cs
}

// TestVectors runs every makemap case of the shared vectors through both
// programs, and checks ours also against the recorded outputs.
func TestVectors(t *testing.T) {
	tl := needTools(t)
	vec := testutil.SharedTestdata(t, "makemap")
	for _, c := range vectorCases(t, vec) {
		t.Run(c.name, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join(vec, c.input))
			if err != nil {
				t.Fatal(err)
			}
			p := newPair(t, func(d string) { writeFile(t, filepath.Join(d, "t.cf"), trustCF, 0o644) })
			args := append(append([]string{"-C", "t.cf"}, c.args...), "hash", c.name)
			r := compareRun(t, tl, p, "", input, args...)
			compareMaps(t, tl, p, "hash", c.name)

			// Ours against what was recorded when the vectors were made.
			ro := run(t, tl.ours, p.ours, "", input, args...)
			if got := strings.TrimSpace(c.rc); got != itoa(ro.rc) {
				t.Errorf("status %d, recorded %s", ro.rc, c.rc)
			}
			want, _ := os.ReadFile(filepath.Join(vec, c.name+".stderr.txt"))
			if diff := cmp.Diff(string(want), ro.stderr); diff != "" {
				t.Errorf("stderr (-recorded +ours):\n%s", diff)
			}
			if want, err := os.ReadFile(filepath.Join(vec, c.name+".stdout.txt")); err == nil {
				if diff := cmp.Diff(string(want), ro.stdout); diff != "" {
					t.Errorf("stdout (-recorded +ours):\n%s", diff)
				}
			}
			dump, err := os.ReadFile(filepath.Join(vec, c.name+".dump.txt"))
			if err != nil {
				t.Fatal(err)
			}
			u := run(t, tl.real, p.ours, "", nil, "-u", "hash", c.name)
			if diff := cmp.Diff(sortedLines(string(dump)), sortedLines(u.stdout)); diff != "" {
				t.Errorf("real -u of our file, sorted (-recorded +ours):\n%s", diff)
			}
			_ = r
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
