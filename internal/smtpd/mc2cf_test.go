// SPDX-License-Identifier: MIT

package smtpd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/pkg/mc"
)

// TestFeaturesFromMC2CF checks that sendmaild configures the same policy
// from the cf mc2cf makes (no rulesets) as from the cf GNU m4 +
// sendmail-cf made of the same mc: for every mc in pkg/mc's corpus whose
// m4 output is stored beside it.
func TestFeaturesFromMC2CF(t *testing.T) {
	root := filepath.Join("..", "..", "pkg", "mc", "testdata", "cf")
	n := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".mc") {
			return nil
		}
		want, err := os.ReadFile(strings.TrimSuffix(p, ".mc") + ".cf")
		if err != nil {
			return nil
		}
		n++
		t.Run(strings.TrimPrefix(p, root+"/"), func(t *testing.T) {
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var out, stderr bytes.Buffer
			if err := mc.Compile(p, bytes.NewReader(src), &out, mc.CompileOptions{Stderr: &stderr}); err != nil {
				t.Fatalf("mc2cf: %v\n%s", err, stderr.String())
			}
			if diff := cmp.Diff(DetectFeatures(string(want)), DetectFeatures(out.String())); diff != "" {
				t.Errorf("features (-m4 +mc2cf):\n%s", diff)
			}
		})
		return nil
	})
	if n < 30 {
		t.Fatalf("only %d mc files with m4 output under %s", n, root)
	}
}
