// SPDX-License-Identifier: MIT

package accessdb

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// diffEntries is the access map of the differential test: values of
// every form and keys that sit on the walks of the probes below.
var diffEntries = map[string]string{
	"Connect:Test.Example":          "REJECT",
	"127.0.0.21":                    "RELAY",
	"Connect:127.0.0.22":            "SKIP",
	"Connect:127.0.0":               "OK",
	"Connect:10.1":                  "ERROR:5.7.1:550 Your network is blocked",
	"Connect:IPv6:2001:db8:0:0:0:0": "DISCARD",
	"IPv6:2001:db8::1":              "RELAY",
	"Connect:[192.0.2]":             `ERROR:"421 4.3.2 closing, go away"`,
	"spam.example":                  "ERROR:550 We dont   accept   <mail> from you",
	"x.example":                     "  ReJeCt  ",
	"q.example":                     "QUARANTINE:held for  review",
	"From:user+*@":                  "OK # comment",
	"From:friend@example.com":       "TEMPFAIL",
	"Spam:abuse@":                   "FRIEND",
	"GreetPause:10.0.0":             "5000",
	"ClientRate:":                   "10",
	"Srv_Features:":                 "V",
	"skipped.example":               "SKIP",
	"Connect:example":               "550 generic text",
	"odd.example":                   "?",
}

type probe struct {
	rs, item, mark, tag string
}

var diffProbes = []probe{
	{"D", "client.test.example", "+", "Connect"},
	{"D", "other.host.example", "+", "Connect"},
	{"D", "[127.0.0.21]", "+", "Connect"},
	{"D", "[192.0.2.7]", "+", "Connect"},
	{"D", "[IPv6:2001:db8:0:0:0:0:0:1]", "+", "Connect"},
	{"D", "[IPv6:::1]", "+", "Connect"},
	{"D", "a.spam.example", "+", "Connect"},
	{"D", "x.example", "+", "Connect"},
	{"D", "q.example", "+", "Connect"},
	{"D", "a.skipped.example", "+", "Connect"},
	{"D", "odd.example", "+", "To"},
	{"D", "h.test.example", "!", "GreetPause"},
	{"D", "a..b", "+", "To"},
	{"A", "127.0.0.21", "+", "Connect"},
	{"A", "127.0.0.22", "+", "Connect"},
	{"A", "127.0.0.23", "+", "Connect"},
	{"A", "10.1.2.3", "+", "Connect"},
	{"A", "10.0.0.5", "!", "GreetPause"},
	{"A", "10.9.9.9", "!", "ClientRate"},
	{"A", "IPv6:2001:db8:0:0:0:0:0:1", "+", "Connect"},
	{"A", "IPv6:2001:db8::1", "+", "Connect"},
	{"A", "IPv6:2001:db8::2", "+", "Connect"},
	{"A", "1.2..3", "+", "Connect"},
	{"F", "user+ext@dom.example", "+", "From"},
	{"F", "friend@example.com", "+", "From"},
	{"F", "abuse@hamap.local", "!", "Spam"},
	{"F", "+x@d", "!", "Spam"},
	{"U", "user+ext@", "+", "From"},
	{"U", "abuse@", "!", "Spam"},
	{"U", "a+b+c@", "+", "To"},
	{"E", "", "!", "ClientRate"},
	{"E", "", "!", "Srv_Features"},
	{"E", "x", "+", "To"},
}

var (
	lookupLine = regexp.MustCompile(`^map_lookup\(access, (.*)\) => `)
	returnLine = regexp.MustCompile(`^([A-Z])\s+returns: (.*)$`)
)

// TestAgainstSendmail runs the D, A, F, U and E rulesets of a cf made by
// GNU m4 from the real sendmail-cf files in sendmail -bt with map tracing
// (-d60.1), and compares the keys tried and the value returned with the
// Checker's. sendmail runs in a private mount namespace whose resolv.conf
// points at 127.0.0.1, so its start-up name lookups never leave the host.
func TestAgainstSendmail(t *testing.T) {
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "sendmail -bt runs in a private mount namespace (unshare -m) so that it cannot query the system resolver")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal("sendmail-cf is not installed")
		}
		t.Skip("sendmail-cf is not installed")
	}

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mapPath := filepath.Join(dir, "access")
	mc := fmt.Sprintf("include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl\n"+
		"define(`confDONT_PROBE_INTERFACES', `true')dnl\n"+
		"define(`confDONT_BLAME_SENDMAIL', `MapInUnsafeDirPath')dnl\n"+
		"FEATURE(`access_db', `hash -T<TMPF> %s', `skip')dnl\n"+
		"MAILER(`local')dnl\nMAILER(`smtp')dnl\n", mapPath)
	cf, err := runCmd(m4, nil, strings.NewReader(mc))
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	cfPath := filepath.Join(dir, "t.cf")
	writeFile(t, cfPath, cf)

	var src strings.Builder
	for k, v := range diffEntries {
		fmt.Fprintf(&src, "%s\t%s\n", k, v)
	}
	if out, err := runCmd(makemap, []string{"hash", mapPath}, strings.NewReader(src.String())); err != nil {
		t.Fatalf("makemap: %v: %s", err, out)
	}
	writeFile(t, filepath.Join(dir, "resolv.conf"), "nameserver 127.0.0.1\n")
	host, _ := os.Hostname()
	writeFile(t, filepath.Join(dir, "hosts"), "127.0.0.1 localhost\n127.0.1.1 "+host+" "+host+".localdomain\n")

	var in strings.Builder
	for _, p := range diffProbes {
		fmt.Fprintf(&in, "%s <%s> <?> <%s %s> <>\n", p.rs, p.item, p.mark, p.tag)
	}
	script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts && exec "$2" -C "$3" -bt -d60.1`
	out, err := runCmd(unshare, []string{"-m", "sh", "-c", script, "sh", dir, sendmail, cfPath}, strings.NewReader(in.String()))
	if err != nil {
		t.Fatalf("sendmail -bt: %v\n%s", err, out)
	}

	// Split the transcript at the prompts: one section per probe.
	type section struct {
		keys []string
		ret  string
	}
	var secs []*section
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			secs = append(secs, &section{})
			line = line[2:]
		}
		if len(secs) == 0 {
			continue
		}
		s := secs[len(secs)-1]
		if m := lookupLine.FindStringSubmatch(line); m != nil {
			s.keys = append(s.keys, m[1])
		} else if m := returnLine.FindStringSubmatch(line); m != nil {
			s.ret = m[2]
		}
	}
	if len(secs) < len(diffProbes) {
		t.Fatalf("%d sections for %d probes:\n%s", len(secs), len(diffProbes), out)
	}

	for i, p := range diffProbes {
		s := secs[i]
		t.Run(fmt.Sprintf("%s %s%s <%s>", p.rs, p.mark, p.tag, p.item), func(t *testing.T) {
			rm := &recMap{m: NewMemMap(diffEntries)}
			c := &Checker{Map: rm, Skip: true, TempFail: true}
			tagOnly := p.mark == "!"
			var r Result
			var err error
			switch p.rs {
			case "D":
				r, err = c.Domain(p.tag, p.item, tagOnly)
			case "A":
				r, err = c.Addr(p.tag, p.item, tagOnly)
			case "F":
				r, err = c.Full(p.tag, p.item, tagOnly)
			case "U":
				r, err = c.User(p.tag, p.item, tagOnly)
			case "E":
				r, err = c.Exact(p.tag, p.item, tagOnly)
			}
			if err != nil {
				t.Fatal(err)
			}
			// sendmail prints keys as it was given them (the map folds
			// case itself), so the sequences compare exactly.
			if diff := cmp.Diff(s.keys, rm.keys); diff != "" {
				t.Errorf("keys tried (-sendmail +ours):\n%s", diff)
			}
			if !strings.HasSuffix(s.ret, "> < >") && p.item != "" {
				t.Fatalf("unexpected return %q", s.ret)
			}
			got := "< ? >"
			if r.Found {
				var parts []string
				for _, tk := range tokenize(r.RHS.Value) {
					parts = append(parts, tk.text)
				}
				got = "< " + strings.Join(parts, " ") + " >"
				if r.RHS.Kind == TempFail {
					got = "< < TMPF > >"
				}
			}
			if !strings.HasPrefix(s.ret, got+" < >") {
				t.Errorf("sendmail returned %q, we have %q", s.ret, got)
			}
		})
	}
}

func runCmd(name string, args []string, stdin *strings.Reader) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = stdin
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDBMapAgainstSendmail builds a map with the real makemap (keys of
// 255, 256 and 257 bytes, mixed case) and compares DBMap lookups with
// sendmail's "/map" answers for the same keys, with and without -f.
func TestDBMapAgainstSendmail(t *testing.T) {
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "sendmail -bt runs in a private mount namespace (unshare -m) so that it cannot query the system resolver")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := strings.Repeat("a", 255) + " V255\n" + strings.Repeat("b", 256) + " V256\n" +
		strings.Repeat("c", 257) + " V257\n" + strings.Repeat("d", 256) + " PREFIX\nMixed.Key v1\n"
	mapPath := filepath.Join(dir, "long")
	for _, args := range [][]string{{"hash", mapPath}, {"-f", "hash", mapPath + "_f"}} {
		if out, err := runCmd(makemap, args, strings.NewReader(src)); err != nil {
			t.Fatalf("makemap %v: %v: %s", args, err, out)
		}
	}
	dbs := []string{"TrustStickyBit", "MapInUnsafeDirPath"}
	cf := "V10/Berkeley\nO DontBlameSendmail=" + strings.Join(dbs, ",") + "\n" +
		"Klong hash " + mapPath + "\nKlongf hash -f " + mapPath + "_f\n"
	cfPath := filepath.Join(dir, "l.cf")
	writeFile(t, cfPath, cf)
	writeFile(t, filepath.Join(dir, "resolv.conf"), "nameserver 127.0.0.1\n")
	host, _ := os.Hostname()
	// A qualified name for the host, or sendmail waits for the (absent)
	// loopback resolver to qualify it.
	writeFile(t, filepath.Join(dir, "hosts"), "127.0.0.1 localhost\n127.0.1.1 "+host+".localdomain "+host+"\n")

	keys := []string{
		strings.Repeat("a", 255), strings.Repeat("b", 256), strings.Repeat("c", 257),
		strings.Repeat("d", 300), strings.Repeat("D", 256), "mixed.key", "MIXED.KEY", "Mixed.Key", "nothere",
	}
	var in strings.Builder
	for _, m := range []string{"long", "longf"} {
		for _, k := range keys {
			fmt.Fprintf(&in, "/map %s %s\n", m, k)
		}
	}
	script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts && exec "$2" -C "$3" -bt`
	// sendmail -bt exits 70 here ("No local mailer defined"); the
	// answers are complete all the same.
	out, _ := runCmd(unshare, []string{"-m", "sh", "-c", script, "sh", dir, sendmail, cfPath}, strings.NewReader(in.String()))
	answer := regexp.MustCompile(`map_lookup: (\S+) \((.*)\) (returns (.*) \(0\)|no match \(0\))$`)
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if m := answer.FindStringSubmatch(strings.TrimPrefix(l, "> ")); m != nil {
			if m[4] != "" {
				got = append(got, m[4])
			} else {
				got = append(got, "NOTFOUND")
			}
		}
	}
	var ours []string
	for _, spec := range []struct {
		file string
		opts DBOptions
	}{{mapPath, DBOptions{DontBlameSendmail: dbs}}, {mapPath + "_f", DBOptions{NoFoldCase: true, DontBlameSendmail: dbs}}} {
		m, err := OpenDB(spec.file, spec.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, ok, err := m.Lookup(k)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				v = "NOTFOUND"
			}
			ours = append(ours, v)
		}
		m.Close()
	}
	if len(got) != 2*len(keys) {
		t.Fatalf("%d answers from sendmail:\n%s", len(got), out)
	}
	if diff := cmp.Diff(got, ours); diff != "" {
		t.Errorf("(-sendmail +ours):\n%s\n%s", diff, out)
	}
}

// TestDBMapUnsafeAgainstSendmail compares OpenDB's directory rule with
// the maps sendmail refuses ("unsafe map file …") for each
// DontBlameSendmail setting.
func TestDBMapUnsafeAgainstSendmail(t *testing.T) {
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "sendmail -bt runs in a private mount namespace (unshare -m) so that it cannot query the system resolver")
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	modes := []os.FileMode{0o777, 0o777 | os.ModeSticky, 0o775, 0o755}
	for i, mode := range modes {
		d := filepath.Join(base, fmt.Sprintf("d%d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := runCmd(makemap, []string{"hash", filepath.Join(d, "map")}, strings.NewReader("k v\n")); err != nil {
			t.Fatalf("makemap: %v: %s", err, out)
		}
		if err := os.Chmod(filepath.Join(d, "map.db"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(base, "resolv.conf"), "nameserver 127.0.0.1\n")
	host, _ := os.Hostname()
	writeFile(t, filepath.Join(base, "hosts"), "127.0.0.1 localhost\n127.0.1.1 "+host+".localdomain "+host+"\n")
	unsafeLine := regexp.MustCompile(`hash map "m(\d)": unsafe map file \S+: (.*)$`)
	for n, dbs := range [][]string{{"TrustStickyBit"}, {"TrustStickyBit", "GroupWritableDirPathSafe"}, {"MapInUnsafeDirPath"}, {"GroupWritableDirPathSafe"}} {
		t.Run(strings.Join(dbs, ","), func(t *testing.T) {
			var cf, in strings.Builder
			cf.WriteString("V10/Berkeley\nO DontBlameSendmail=" + strings.Join(dbs, ",") + "\n")
			for i := range modes {
				fmt.Fprintf(&cf, "Km%d hash %s\n", i, filepath.Join(base, fmt.Sprintf("d%d", i), "map"))
				fmt.Fprintf(&in, "/map m%d k\n", i)
			}
			cfPath := filepath.Join(base, fmt.Sprintf("t%d.cf", n))
			writeFile(t, cfPath, cf.String())
			script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts && exec "$2" -C "$3" -bt`
			out, _ := runCmd(unshare, []string{"-m", "sh", "-c", script, "sh", base, sendmail, cfPath}, strings.NewReader(in.String()))
			want := make([]string, len(modes))
			for _, l := range strings.Split(out, "\n") {
				if m := unsafeLine.FindStringSubmatch(l); m != nil {
					i, _ := strconv.Atoi(m[1])
					want[i] = m[2]
				}
			}
			got := make([]string, len(modes))
			for i := range modes {
				m, err := OpenDB(filepath.Join(base, fmt.Sprintf("d%d", i), "map"), DBOptions{DontBlameSendmail: dbs})
				if err != nil {
					msg := err.Error()
					got[i] = msg[strings.LastIndex(msg, ": ")+2:]
				} else {
					m.Close()
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-sendmail +ours):\n%s\n%s", diff, out)
			}
		})
	}
}
