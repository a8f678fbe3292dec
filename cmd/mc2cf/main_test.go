// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mcHead = "divert(-1)dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ndivert(0)dnl\nOSTYPE(`linux')dnl\n"

func writeMC(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "sendmail.mc")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc")
	if err := os.Mkdir(inc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inc, "site.m4"), []byte("define(`confLOG_LEVEL', `14')dnl\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeMC(t, dir, mcHead+"include(`site.m4')dnl\nifdef(`WITH_HOST', `define(`SMART_HOST', WITH_HOST)')dnl\nMAILER(`local')dnl\nMAILER(`smtp')dnl\n")
	bad := filepath.Join(dir, "bad.mc")
	if err := os.WriteFile(bad, []byte(mcHead+"FEATURE(`nonesuch')dnl\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		status     int
		stdoutHas  []string
		stderr     string
		wantOutput bool // -o file written
	}{
		{name: "stdout", args: []string{"-I", inc, good}, stdoutHas: []string{"V10/Berkeley", "O LogLevel=14", "\nDS\n"}},
		{name: "define", args: []string{"-I", inc, "-D", "WITH_HOST=[relay.example]", good}, stdoutHas: []string{"DS[relay.example]"}},
		{name: "output file", args: []string{"-I", inc, "-o", filepath.Join(dir, "out.cf"), good}, wantOutput: true},
		{name: "m4 error", args: []string{"-o", filepath.Join(dir, "bad.cf"), bad}, status: 1,
			stderr: "m4:" + bad + ":5: cannot open `/usr/share/sendmail/cf/feature/nonesuch.m4': No such file or directory\n"},
		{name: "missing file", args: []string{filepath.Join(dir, "none.mc")}, status: 1,
			stderr: "m4: cannot open `" + filepath.Join(dir, "none.mc") + "': No such file or directory\n"},
		{name: "usage", args: []string{"a.mc", "b.mc"}, status: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			status := run(tc.args, strings.NewReader(""), &out, &errb)
			if status != tc.status {
				t.Fatalf("status %d, want %d; stderr:\n%s", status, tc.status, errb.String())
			}
			for _, s := range tc.stdoutHas {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q", s)
				}
			}
			if tc.stderr != "" {
				if d := cmp.Diff(tc.stderr, errb.String()); d != "" {
					t.Errorf("stderr (-want +got):\n%s", d)
				}
			}
			if tc.wantOutput {
				b, err := os.ReadFile(filepath.Join(dir, "out.cf"))
				if err != nil {
					t.Fatal(err)
				}
				if out.Len() != 0 || !strings.Contains(string(b), "O LogLevel=14") {
					t.Errorf("-o: stdout %d bytes, file lacks the cf", out.Len())
				}
			}
		})
	}
	// A failed run must not leave or replace the -o file, nor a temp file.
	if _, err := os.Stat(filepath.Join(dir, "bad.cf")); !os.IsNotExist(err) {
		t.Errorf("bad.cf exists after a failed run: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
