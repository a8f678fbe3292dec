// SPDX-License-Identifier: MIT

package mc

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// process runs input through a fresh engine configured by setup.
func process(t testing.TB, input string, opts Options, setup func(e *Engine)) (m4Result, *Engine) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.Stderr = &stderr
	e := NewEngine(opts)
	if setup != nil {
		setup(e)
	}
	_ = e.Process("in.m4", strings.NewReader(input), &stdout)
	return m4Result{Stdout: stdout.String(), Stderr: stderr.String(), Status: e.ExitStatus()}, e
}

func TestEngineAPI(t *testing.T) {
	mapOpen := func(files map[string]string) func(string) (io.ReadCloser, error) {
		return func(name string) (io.ReadCloser, error) {
			if s, ok := files[name]; ok {
				return io.NopCloser(strings.NewReader(s)), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
	}
	tests := []struct {
		name  string
		input string
		opts  Options
		setup func(e *Engine)
		want  m4Result
	}{
		{
			name:  "define like -D",
			input: "X Y\n",
			setup: func(e *Engine) { e.Define("X", "ex"); e.Define("Y", "`X'") },
			want:  m4Result{Stdout: "ex X\n"},
		},
		{
			name:  "undefine like -U",
			input: "define len(`ab')\n",
			setup: func(e *Engine) { e.Undefine("define"); e.Undefine("len") },
			want:  m4Result{Stdout: "define len(ab)\n"},
		},
		{
			name:  "go builtin with arguments and rescan",
			input: "define(`B',`bee')HELLO(a, `B')|HELLO\n",
			setup: func(e *Engine) {
				e.SetBuiltin("HELLO", func(_ *Engine, args []string) (string, error) {
					return fmt.Sprintf("%s:%d:%s", strings.ToLower(args[0]), len(args)-1, strings.Join(args[1:], "+")), nil
				})
			},
			want: m4Result{Stdout: "hello:2:a+bee|hello:0:\n"},
		},
		{
			name:  "go builtin error is reported at the call",
			input: "\nFAIL(x)after\n",
			setup: func(e *Engine) {
				e.SetBuiltin("FAIL", func(_ *Engine, args []string) (string, error) {
					return "", fmt.Errorf("bad thing %s", args[1])
				})
			},
			want: m4Result{Stdout: "\nafter\n", Stderr: "m4:in.m4:2: bad thing x\n", Status: 1},
		},
		{
			name:  "go builtin sees file and line",
			input: "a\nb POS\n",
			setup: func(e *Engine) {
				e.SetBuiltin("POS", func(e *Engine, _ []string) (string, error) {
					return fmt.Sprintf("%s@%d", e.File(), e.Line()), nil
				})
			},
			want: m4Result{Stdout: "a\nb in.m4@2\n"},
		},
		{
			name:  "include through Open",
			input: "include(`a.m4')sinclude(`nope')include(`nope')\n",
			opts:  Options{Open: mapOpen(map[string]string{"a.m4": "A=__file__:__line__\n"})},
			want: m4Result{
				Stdout: "A=a.m4:1\n\n",
				Stderr: "m4:in.m4:1: cannot open `nope': No such file or directory\n",
				Status: 1,
			},
		},
		{
			name:  "recursion limit",
			input: "define(`g',`g(g)')\ng\n",
			opts:  Options{MaxDepth: 5},
			want: m4Result{
				Stdout: "\n",
				Stderr: "m4:in.m4:2: recursion limit of 5 exceeded, use -L<N> to change it\n",
				Status: 1,
			},
		},
		{
			name:  "endless tail recursion hits the call limit",
			input: "define(`a',`a')a\n",
			opts:  Options{MaxSteps: 1000},
			want: m4Result{
				Stderr: "m4:in.m4:1: expansion limit of 1000 macro calls exceeded\n",
				Status: 1,
			},
		},
		{
			name:  "endless output hits the output limit",
			input: "define(`a',`xxxxxxxxxx a')a\n",
			opts:  Options{MaxOutput: 100},
			want: m4Result{
				// Output and pending expansions share the budget.
				Stdout: strings.Repeat("xxxxxxxxxx ", 3),
				Stderr: "m4:in.m4:1: output limit of 100 bytes exceeded\n",
				Status: 1,
			},
		},
		{
			name:  "huge eval width is bounded",
			input: "eval(1,10,100000000)",
			opts:  Options{MaxOutput: 1000},
			want: m4Result{
				Stderr: "m4:in.m4:1: output limit of 1000 bytes exceeded\n",
				Status: 1,
			},
		},
		{
			name:  "shell escapes are refused",
			input: "syscmd(`echo hi')esyscmd(`echo hi')maketemp(`/tmp/xXXXXXX')x\n",
			want: m4Result{
				Stdout: "x\n",
				Stderr: "m4:in.m4:1: builtin `syscmd' is not supported\n" +
					"m4:in.m4:1: builtin `esyscmd' is not supported\n" +
					"m4:in.m4:1: builtin `maketemp' is not supported\n",
				Status: 1,
			},
		},
		{
			name:  "m4exit status and discarded diversions",
			input: "a\ndivert(1)b\ndivert(0)m4exit(4)c\n",
			want:  m4Result{Stdout: "a\n", Status: 4},
		},
		{
			name:  "errprint goes to Stderr",
			input: "errprint(`oops', `here\n')ok\n",
			want:  m4Result{Stdout: "ok\n", Stderr: "oops here\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := process(t, tc.input, tc.opts, tc.setup)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookupAndDiversion(t *testing.T) {
	var out bytes.Buffer
	e := NewEngine(Options{Stderr: io.Discard})
	err := e.Process("x.m4", strings.NewReader("define(`a',`1')pushdef(`a',`2')define(`b')divert(3)three\ndivert(1)one\ndivert(0)z\nm4wrap(`divert(2)w')"), &out)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		text   string
		ok     bool
		lookup string
	}{
		{name: "top of pushdef stack", lookup: "a", text: "2", ok: true},
		{name: "empty definition", lookup: "b", text: "", ok: true},
		{name: "builtin is not a user macro", lookup: "define", ok: false},
		{name: "undefined", lookup: "nope", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, ok := e.Lookup(tc.lookup)
			if text != tc.text || ok != tc.ok {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.lookup, text, ok, tc.text, tc.ok)
			}
		})
	}
	if got, want := out.String(), "z\none\nwthree\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if e.ErrorCount() != 0 {
		t.Errorf("ErrorCount = %d", e.ErrorCount())
	}

	// Diversion shows pending text before the end of input.
	e2 := NewEngine(Options{})
	e2.SetBuiltin("PEEK", func(e *Engine, _ []string) (string, error) {
		return "[" + e.Diversion(2) + "]", nil
	})
	out.Reset()
	if err := e2.Process("y.m4", strings.NewReader("divert(2)two\ndivert(0)PEEK\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "[two\n]\ntwo\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestIncludeDirs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inc.m4"), []byte("from __file__\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := process(t, "include(`inc.m4')", Options{IncludeDirs: []string{filepath.Join(dir, "missing"), dir}}, nil)
	want := m4Result{Stdout: "from " + filepath.Join(dir, "inc.m4") + "\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestIncludeDirsOracle checks -I against the real m4, which names an
// included file by the path it opened.
func TestIncludeDirsOracle(t *testing.T) {
	m4 := testutil.Oracle(t, "m4", "m4")
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "inc.m4"), []byte("from __file__:__line__\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := "include(`inc.m4')include(`none.m4')\n"
	if err := os.WriteFile(filepath.Join(dir, "main.m4"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	want := runReal(t, m4, dir, "-I", "sub", "main.m4")
	var stdout, stderr bytes.Buffer
	e := NewEngine(Options{Stderr: &stderr, IncludeDirs: []string{"sub"}})
	wd, _ := os.Getwd()
	t.Chdir(dir)
	_ = e.Process("main.m4", strings.NewReader(main), &stdout)
	t.Chdir(wd)
	got := m4Result{Stdout: stdout.String(), Stderr: stderr.String(), Status: e.ExitStatus()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("real (-) vs ours (+):\n%s", diff)
	}
}

func TestProcessResult(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr bool
		status  int
	}{
		{name: "fatal error", input: "`open", wantErr: true, status: 1},
		{name: "m4exit non-zero", input: "m4exit(3)", wantErr: true, status: 3},
		{name: "m4exit zero", input: "m4exit", status: 0},
		{name: "error without exit", input: "include(`/nonexistent/x')", status: 1},
		{name: "warning only", input: "len(1,2)", status: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(Options{Stderr: io.Discard})
			err := e.Process("q.m4", strings.NewReader(tc.input), io.Discard)
			if (err != nil) != tc.wantErr || e.ExitStatus() != tc.status {
				t.Errorf("Process = %v, status %d; want error %v, status %d", err, e.ExitStatus(), tc.wantErr, tc.status)
			}
		})
	}
}

// FuzzM4 feeds arbitrary input to the engine: it must finish quickly with
// output or an error and never panic.
func FuzzM4(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "m4", "*.m4"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, input string) {
		opts := Options{
			Stderr:    io.Discard,
			MaxDepth:  200,
			MaxSteps:  20000,
			MaxOutput: 1 << 20,
			Open: func(name string) (io.ReadCloser, error) {
				if name == "self" {
					return io.NopCloser(strings.NewReader(input)), nil
				}
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			},
		}
		e := NewEngine(opts)
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = e.Process("fuzz.m4", strings.NewReader(input), &out)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("no result after 10s for %q", input)
		}
		if int64(out.Len()) > 2<<20 {
			t.Errorf("output of %d bytes exceeds the limit", out.Len())
		}
	})
}

// BenchmarkDebianMC processes Debian's stock sendmail.mc with the real
// sendmail-cf macro files. Compare with: time m4 -D_NO_MAKEINFO_ debian-default.mc
func BenchmarkDebianMC(b *testing.B) {
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		b.Skip("sendmail-cf is not installed")
	}
	dir := testutil.SharedTestdata(b, filepath.Join("mc", "full"))
	data, err := os.ReadFile(filepath.Join(dir, "debian-default.mc"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e := NewEngine(Options{Stderr: io.Discard})
		e.Define("_NO_MAKEINFO_", "")
		if err := e.Process("debian-default.mc", bytes.NewReader(data), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
