// SPDX-License-Identifier: MIT

// Package makemap_test compares mailsuite's makemap binary with the real
// Sendmail 8.17 makemap: same messages, exit codes and -v output for the
// same input, maps with the same records (read back by the real makemap -u,
// db5.3_dump and sendmail itself), and the same file modes and owners.
package makemap_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// ourMakemap returns our makemap binary: $MAILSUITE_BIN/makemap when the
// Makefile built it, else one built now.
func ourMakemap(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MAILSUITE_BIN"); d != "" {
		p := filepath.Join(d, "makemap")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	root := testutil.RepoRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "makemap-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "makemap")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/makemap")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// tools are the programs a differential test runs.
type tools struct {
	ours, real, dump, verify string
}

func needTools(t *testing.T) tools {
	t.Helper()
	return tools{
		real:   testutil.Oracle(t, "makemap", "sendmail-bin"),
		dump:   testutil.Oracle(t, "db5.3_dump", "db5.3-util"),
		verify: testutil.Oracle(t, "db5.3_verify", "db5.3-util"),
		ours:   ourMakemap(t),
	}
}

type result struct {
	rc             int
	stdout, stderr string
}

// run runs bin as "makemap" (so getopt's messages name the same program)
// in dir with stdin. A non-empty umask runs it through sh with that umask.
func run(t *testing.T, bin, dir, umask string, stdin []byte, args ...string) result {
	t.Helper()
	var cmd *exec.Cmd
	if umask != "" {
		cmd = exec.Command("/bin/bash", append([]string{"-c", "umask " + umask + ` && exec -a makemap "$0" "$@"`, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
		cmd.Args[0] = "makemap"
	}
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	rc := 0
	if errors.As(err, &ee) {
		rc = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", bin, err)
	}
	return result{rc, out.String(), errb.String()}
}

// sortedLines returns s's lines sorted.
func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if s == "" {
		l = nil
	}
	sort.Strings(l)
	return l
}

// grouped turns "key TAB value" lines into one "key TAB v1 TAB v2..." line
// per key, values in listed order, keys sorted.
func grouped(s string) []string {
	vals := map[string][]string{}
	var keys []string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		k, v, _ := strings.Cut(l, "\t")
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = append(vals[k], v)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "\t" + strings.Join(vals[k], "\t")
	}
	return out
}

// dumpRecords returns db5.3_dump -p's records of file as sorted
// "key\x00value" strings and its type= and duplicates= header lines.
func dumpRecords(t *testing.T, dump, file string) (recs, header []string) {
	t.Helper()
	out, err := exec.Command(dump, "-p", file).Output()
	if err != nil {
		t.Fatalf("db5.3_dump -p %s: %v", file, err)
	}
	lines := strings.Split(string(out), "\n")
	i := 0
	for ; i < len(lines) && lines[i] != "HEADER=END"; i++ {
		if strings.HasPrefix(lines[i], "type=") || strings.HasPrefix(lines[i], "duplicates=") {
			header = append(header, lines[i])
		}
	}
	for i++; i+1 < len(lines) && lines[i] != "DATA=END"; i += 2 {
		recs = append(recs, lines[i]+"\x00"+lines[i+1])
	}
	sort.Strings(recs)
	return recs, header
}

// fileState is what we compare of a map file besides its records.
type fileState struct {
	Exists   bool
	Symlink  bool
	Mode     uint32
	UID, GID uint32
	Nlink    uint64
}

func stateOf(path string) fileState {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return fileState{}
	}
	fs := fileState{Exists: true, Symlink: st.Mode&syscall.S_IFMT == syscall.S_IFLNK}
	if fs.Symlink {
		return fs
	}
	fs.Mode, fs.UID, fs.GID, fs.Nlink = st.Mode, st.Uid, st.Gid, uint64(st.Nlink)
	return fs
}

// pair is a directory for our makemap and one for the real one, set up
// alike.
type pair struct {
	ours, real string
}

func newPair(t *testing.T, setup func(dir string)) pair {
	t.Helper()
	p := pair{ours: t.TempDir(), real: t.TempDir()}
	if setup != nil {
		setup(p.ours)
		setup(p.real)
	}
	return p
}

// compareRun runs both programs with the same arguments and input in their
// directories and fails on any difference in status, stdout or stderr.
func compareRun(t *testing.T, tl tools, p pair, umask string, input []byte, args ...string) result {
	t.Helper()
	ro := run(t, tl.ours, p.ours, umask, input, args...)
	rr := run(t, tl.real, p.real, umask, input, args...)
	if diff := cmp.Diff(rr, ro, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("makemap %s: (-real +ours):\n%s", strings.Join(args, " "), diff)
	}
	return rr
}

// compareMaps checks the map file rel (relative to each directory) of
// both: the real makemap -u lists the same records of each, db5.3_dump -p
// too, db5.3_verify accepts ours, our -u of the real file equals the real
// -u, and mode and owner agree.
func compareMaps(t *testing.T, tl tools, p pair, typ, mapname string, extra ...string) {
	t.Helper()
	file := mapname
	if !strings.HasSuffix(file, ".db") {
		file += ".db"
	}
	so, sr := stateOf(filepath.Join(p.ours, file)), stateOf(filepath.Join(p.real, file))
	if diff := cmp.Diff(sr, so); diff != "" {
		t.Errorf("%s: file state (-real +ours):\n%s", file, diff)
	}
	if !sr.Exists || (!sr.Symlink && sr.Mode&syscall.S_IFMT != syscall.S_IFREG) {
		return
	}
	args := append(append([]string{"-u"}, extra...), typ, mapname)
	uo := run(t, tl.real, p.ours, "", nil, args...)
	ur := run(t, tl.real, p.real, "", nil, args...)
	if uo.rc != ur.rc {
		t.Errorf("real makemap -u: status %d on ours, %d on real (%s)", uo.rc, ur.rc, uo.stderr)
	}
	if diff := cmp.Diff(sortedLines(ur.stdout), sortedLines(uo.stdout)); diff != "" {
		t.Errorf("real makemap -u, sorted (-real file +our file):\n%s", diff)
	}
	if len(extra) == 0 {
		// Sorting hides the order of a key's duplicates; it must be the
		// input order in both.
		if diff := cmp.Diff(grouped(ur.stdout), grouped(uo.stdout)); diff != "" {
			t.Errorf("real makemap -u, values per key in order (-real file +our file):\n%s", diff)
		}
	}
	if ur.rc != 0 {
		return
	}
	do, ho := dumpRecords(t, tl.dump, filepath.Join(p.ours, file))
	dr, hr := dumpRecords(t, tl.dump, filepath.Join(p.real, file))
	if diff := cmp.Diff(dr, do); diff != "" {
		t.Errorf("db5.3_dump -p records (-real +ours):\n%s", diff)
	}
	if diff := cmp.Diff(hr, ho); diff != "" {
		t.Errorf("db5.3_dump -p header (-real +ours):\n%s", diff)
	}
	if out, err := exec.Command(tl.verify, filepath.Join(p.ours, file)).CombinedOutput(); err != nil {
		t.Errorf("db5.3_verify %s: %v\n%s", file, err, out)
	}
	ou := run(t, tl.ours, p.real, "", nil, args...)
	if diff := cmp.Diff(ur, ou, cmp.AllowUnexported(result{})); diff != "" {
		t.Errorf("makemap -u of the real file (-real +ours):\n%s", diff)
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// trustCF is a cf naming a TrustedUser that exists on every Debian system.
const trustCF = "O TrustedUser=daemon\n"
