// SPDX-License-Identifier: MIT

package cf

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/pkg/mc"
)

// corpusCFs lists the cf files GNU m4 + sendmail-cf made for pkg/mc's
// corpus: the shared snippets and full configs, the samples' and our own
// mc files.
func corpusCFs(t *testing.T) []string {
	t.Helper()
	root, _ := filepath.Abs(filepath.Join("..", "mc", "testdata", "cf"))
	var cfs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".cf") {
			cfs = append(cfs, p)
		}
		return nil
	})
	if len(cfs) < 30 {
		t.Fatalf("only %d cf files under %s", len(cfs), root)
	}
	return cfs
}

var lineNo = regexp.MustCompile(`^.*: line \d+: `)

// TestLoadMCCorpus loads every cf of the corpus and, where its mc lies
// beside it, the cf mc2cf compiles from that mc: sendmaild runs on either,
// so both must give the same options, maps, mailers and messages.
func TestLoadMCCorpus(t *testing.T) {
	opts := Options{NoClassFiles: true, NoUserLookup: true}
	for _, p := range corpusCFs(t) {
		t.Run(filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p), func(t *testing.T) {
			c, err := Load(p, opts)
			if c == nil {
				t.Fatalf("m4's cf: %v", err)
			}
			src := strings.TrimSuffix(p, ".cf") + ".mc"
			in, rerr := os.ReadFile(src)
			if rerr != nil {
				return // no mc beside this cf
			}
			var out, stderr bytes.Buffer
			if err := mc.Compile(src, bytes.NewReader(in), &out, mc.CompileOptions{Stderr: &stderr, Defines: map[string]string{"_NO_MAKEINFO_": ""}}); err != nil {
				t.Fatalf("mc2cf %s: %v\n%s", src, err, stderr.String())
			}
			ours, oerr := Parse(&out, p, opts)
			if ours == nil {
				t.Fatalf("mc2cf's cf: %v", oerr)
			}
			want, got := ourView(c, err, p), ourView(ours, oerr, p)
			// Line numbers differ: mc2cf leaves the rulesets out.
			for _, v := range []*smView{&want, &got} {
				for i, m := range v.msgs {
					v.msgs[i] = lineNo.ReplaceAllString(m, "")
				}
				sort.Strings(v.msgs)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(smView{})); diff != "" {
				t.Errorf("m4's cf and mc2cf's cf read differently (-m4 +mc2cf):\n%s", diff)
			}
			if len(ours.Mailers) != len(c.Mailers) {
				t.Errorf("mc2cf's cf has %d mailers, m4's %d", len(ours.Mailers), len(c.Mailers))
			}
		})
	}
}

// TestCorpusAgainstSendmail compares what we read from every corpus cf
// with what the real sendmail read from it (TestAgainstSendmail's view):
// where sendmail complains about a line (an option this build lacks, a
// map class it was built without), we must complain alike.
func TestCorpusAgainstSendmail(t *testing.T) {
	sb := newSandbox(t)
	for _, cf := range corpusCFs(t) {
		t.Run(filepath.Base(filepath.Dir(cf))+"/"+filepath.Base(cf), func(t *testing.T) {
			want := readView(sb.bt(t, cf, "37.5"), cf)
			c, err := Load(cf, Options{NoClassFiles: true})
			if c == nil {
				t.Fatalf("Load: %v", err)
			}
			got := ourView(c, err, cf)
			// Class files are not read here, so sendmail's complaints
			// about missing ones are left out of both.
			want.msgs = dropClassFileMsgs(want.msgs)
			sort.Strings(want.msgs)
			sort.Strings(got.msgs)
			if diff := cmp.Diff(want.msgs, got.msgs); diff != "" {
				t.Errorf("messages (-sendmail +ours):\n%s", diff)
			}
			if len(want.options) < len(got.options) {
				t.Fatalf("sendmail set %d options, we read %d", len(want.options), len(got.options))
			}
			if diff := cmp.Diff(want.options[:len(got.options)], got.options); diff != "" {
				t.Errorf("options (-sendmail +ours):\n%s", diff)
			}
		})
	}
}

func dropClassFileMsgs(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if strings.Contains(m, "fileclass: cannot open") || strings.Contains(m, "fileclass:") {
			continue
		}
		out = append(out, m)
	}
	return out
}
