// SPDX-License-Identifier: MIT

package mc

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// genNames and genAtoms are the pieces random m4 inputs are built from:
// builtins, user macros, quotes, comments and delimiters in odd places.
var genNames = []string{"define", "pushdef", "popdef", "undefine", "defn", "ifdef", "ifelse", "shift", "len", "index", "substr", "translit", "incr", "decr", "eval", "divert", "undivert", "divnum", "dnl", "changequote", "changecom", "errprint", "m4wrap", "format", "__line__", "regexp", "patsubst", "a", "b", "f", "g"}
var genAtoms = []string{"a", "b", "f", "g", "1", "2", "-1", "0", "x", "$1", "$@", "$*", "$#", "$0", "`a'", "``q''", "#c\n", "\n", " ", "(", ")", ",", "[", "]", "`", "'", "%d", "%s", "1+2", "a-z", "abc", "ifelse", "dnl\n", "3", "changequote([,])", "changequote(<<,>>)", "changequote", "[x]", "<<y>>", "changecom(/*,*/)", "/*c*/", "m4exit(2)", "pushdef(`a',`$1$1')", "define(`f',`$0($@)')", "define(`g',`[$1]')", "divert(1)", "divert(-1)", "divert", "undivert(1)", "m4wrap(`w')", "ifelse(a,b,c,d,e)", "eval(2**3, 2, 5)", "`$1'", "define(`b',defn(`len'))", "\\w+", "a*", "\\(a\\)", "[a-c]", "^", "\\&", "\\1", ".?"}

// genExpr builds a random macro call nested up to depth levels.
func genExpr(r *rand.Rand, depth int) string {
	if depth <= 0 || r.Intn(3) == 0 {
		return genAtoms[r.Intn(len(genAtoms))]
	}
	name := genNames[r.Intn(len(genNames))]
	var sb strings.Builder
	sb.WriteString(name)
	if r.Intn(5) == 0 {
		return sb.String()
	}
	sb.WriteString("(")
	n := r.Intn(5)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		q := r.Intn(3) == 0
		if q {
			sb.WriteString("`")
		}
		k := 1 + r.Intn(3)
		for j := 0; j < k; j++ {
			sb.WriteString(genExpr(r, depth-1))
		}
		if q {
			sb.WriteString("'")
		}
	}
	sb.WriteString(")")
	return sb.String()
}

// TestM4RandomDifferential runs generated inputs (fixed seed, so a
// failure is reproducible) through the real m4 and the engine. Inputs on
// which the real m4 runs away are skipped.
func TestM4RandomDifferential(t *testing.T) {
	m4 := testutil.Oracle(t, "m4", "m4")
	cases := 150
	if testing.Short() {
		cases = 30
	}
	dir := t.TempDir()
	r := rand.New(rand.NewSource(20261127))
	for n := 0; n < cases; n++ {
		var sb strings.Builder
		for i := 0; i < 1+r.Intn(6); i++ {
			sb.WriteString(genExpr(r, 4))
			if r.Intn(2) == 0 {
				sb.WriteString("\n")
			}
		}
		in := sb.String()
		if err := os.WriteFile(filepath.Join(dir, "r.m4"), []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cmd := exec.CommandContext(ctx, m4, "-L200", "r.m4")
		cmd.Args[0] = "m4"
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut || so.Len() > 1<<20 {
			continue
		}
		st := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			st = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		want := m4Result{so.String(), se.String(), st}
		got := runOurs(t, dir, "r.m4", nil, Options{MaxDepth: 200})
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("case %d, input %q: real (-) vs ours (+):\n%s", n, in, d)
		}
	}
}
