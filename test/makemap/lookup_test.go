// SPDX-License-Identifier: MIT

package makemap_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// lookupMaps are the maps of lookup.cf.template that makemap can build:
// map name, makemap flags and source file.
var lookupMaps = []struct {
	name  string
	flags []string
	input string
}{
	{"small", nil, "small.txt"},
	{"small_N", []string{"-N"}, "small.txt"},
	{"mixed", nil, "mixed.txt"},
	{"mixed_f", []string{"-f"}, "mixed.txt"},
	{"large", nil, "large.txt"},
	{"dups_d", []string{"-d"}, "dups.txt"},
	{"manydup_d", []string{"-d"}, "manydup.txt"},
}

// TestSendmailLookups has the real sendmail look keys up (sendmail -bt,
// /map) in maps built by our makemap and by the real one, and compares
// the answers with each other and with the recorded lookups.tsv.
func TestSendmailLookups(t *testing.T) {
	testutil.RequireRoot(t, "sendmail -bt runs in a private mount namespace with its own resolv.conf and hosts")
	tl := needTools(t)
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	vec := testutil.SharedTestdata(t, "makemap")

	built := map[string]bool{}
	for _, m := range lookupMaps {
		built[m.name] = true
	}
	// mixed_f_nofold reads mixed_f with -f on the K line.
	built["mixed_f_nofold"] = true

	tmpl, err := os.ReadFile(filepath.Join(vec, "lookup.cf.template"))
	if err != nil {
		t.Fatal(err)
	}
	probeData, err := os.ReadFile(filepath.Join(vec, "lookups.probes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tsv, err := os.ReadFile(filepath.Join(vec, "lookups.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	probeLines := strings.Split(strings.TrimSpace(string(probeData)), "\n")
	tsvLines := strings.Split(strings.TrimSpace(string(tsv)), "\n")[1:]
	if len(probeLines) != len(tsvLines) {
		t.Fatalf("%d probes but %d rows in lookups.tsv", len(probeLines), len(tsvLines))
	}
	var probes bytes.Buffer
	var want []string
	for i, l := range probeLines {
		f := strings.Fields(l)
		if len(f) < 3 || !built[f[1]] {
			continue
		}
		probes.WriteString(l + "\n")
		row := strings.SplitN(tsvLines[i], "\t", 3)
		if row[0] != f[1] {
			t.Fatalf("probe %q does not match lookups.tsv row %q", l, tsvLines[i])
		}
		if row[2] == "NOTFOUND" {
			want = append(want, fmt.Sprintf("map_lookup: %s (%s) no match (0)", row[0], row[1]))
		} else {
			want = append(want, fmt.Sprintf("map_lookup: %s (%s) returns %s (0)", row[0], row[1], row[2]))
		}
	}

	if len(want) < 30 {
		t.Fatalf("only %d probes left for the maps makemap builds", len(want))
	}

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	etc := t.TempDir()
	resolv := filepath.Join(etc, "resolv.conf")
	hosts := filepath.Join(etc, "hosts")
	writeFile(t, resolv, "nameserver 127.0.0.1\n", 0o644)
	writeFile(t, hosts, fmt.Sprintf("127.0.0.1 %s.example.test %s localhost\n", host, host), 0o644)

	lookups := func(t *testing.T, bin string) []string {
		dir := t.TempDir()
		for _, m := range lookupMaps {
			in, err := os.ReadFile(filepath.Join(vec, m.input))
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, bin, dir, "", in, append(append([]string{"-C", "/dev/null"}, m.flags...), "hash", m.name)...)
			if r.rc != 0 {
				t.Fatalf("%s makemap %s: %+v", bin, m.name, r)
			}
		}
		var cf strings.Builder
		for _, l := range strings.Split(string(tmpl), "\n") {
			if strings.HasPrefix(l, "K") {
				if f := strings.Fields(l); len(f) < 2 || !built[f[0][1:]] {
					continue
				}
			}
			cf.WriteString(strings.ReplaceAll(l, "@DIR@", dir) + "\n")
		}
		cfPath := filepath.Join(dir, "lookup.cf")
		writeFile(t, cfPath, cf.String(), 0o644)
		// sendmail looks its own host name up at start: only in a
		// private mount namespace whose resolv.conf points at loopback
		// and whose hosts file answers.
		script := `mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && exec "$3" -C "$4" -bt`
		cmd := exec.Command(unshare, "-m", "/bin/sh", "-c", script, "sh", resolv, hosts, sendmail, cfPath)
		cmd.Stdin = bytes.NewReader(probes.Bytes())
		out, err := cmd.CombinedOutput()
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if i := strings.Index(l, "map_lookup: "); i >= 0 {
				got = append(got, l[i:])
			}
		}
		if len(got) == 0 {
			t.Fatalf("sendmail -bt answered no lookup (%v):\n%s", err, out)
		}
		return got
	}
	var ours, real []string
	t.Run("ours", func(t *testing.T) { ours = lookups(t, tl.ours) })
	t.Run("real", func(t *testing.T) { real = lookups(t, tl.real) })
	if diff := cmp.Diff(real, ours); diff != "" {
		t.Errorf("sendmail lookups (-real makemap's maps +ours):\n%s", diff)
	}
	if diff := cmp.Diff(want, ours); diff != "" {
		t.Errorf("sendmail lookups (-lookups.tsv +ours):\n%s", diff)
	}
}
