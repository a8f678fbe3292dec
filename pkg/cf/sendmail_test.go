// SPDX-License-Identifier: MIT

package cf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

// sandbox runs the real sendmail in a private mount namespace whose
// resolv.conf points at 127.0.0.1 and whose hosts file is our own, so
// that its start-up host-name lookups never leave the machine.
type sandbox struct {
	dir, sendmail, unshare string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	sb := &sandbox{
		sendmail: testutil.Oracle(t, "sendmail", "sendmail-bin"),
		unshare:  testutil.Oracle(t, "unshare", "util-linux"),
	}
	testutil.RequireRoot(t, "sendmail runs in a private mount namespace (unshare -m) so that it cannot query the system resolver")
	sb.dir = t.TempDir()
	host, _ := os.Hostname()
	for name, data := range map[string]string{
		"resolv.conf": "nameserver 127.0.0.1\n",
		"hosts":       "127.0.0.1 localhost\n127.0.1.1 " + host + " " + host + ".localdomain\n",
	} {
		if err := os.WriteFile(filepath.Join(sb.dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sb
}

// bt runs "sendmail -C cf -bt -dDEBUG" with empty input.
func (sb *sandbox) bt(t *testing.T, cf, debug string) string {
	t.Helper()
	script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts && exec "$2" -C "$3" -bt -d"$4" </dev/null`
	cmd := exec.Command(sb.unshare, "-m", "sh", "-c", script, "sh", sb.dir, sb.sendmail, cf, debug)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	// sendmail exits non-zero (70, 71) after reporting errors in the
	// cf; that is a result, not a failure of the test.
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("sendmail -C %s -bt: %v\n%s", cf, err, out)
	}
	return string(out)
}

// m4cf makes a cf from mc with GNU m4 and the installed sendmail-cf.
func m4cf(t *testing.T, m4, mc, dir string) string {
	t.Helper()
	cmd := exec.Command(m4, "-D_NO_MAKEINFO_", mc)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("m4 %s: %v", mc, err)
	}
	cf := filepath.Join(dir, strings.TrimSuffix(filepath.Base(mc), ".mc")+".cf")
	if err := os.WriteFile(cf, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return cf
}

func requireSendmailCF(t *testing.T) string {
	t.Helper()
	m4 := testutil.Oracle(t, "m4", "m4")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		msg := "sendmail-cf is not installed (/usr/share/sendmail/cf)"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return m4
}

var (
	setoptionLine = regexp.MustCompile(`^setoption (\S+) \([^)]*\)((?:\.[^=]*)?)=(.*)$`)
	mapDebugLine  = regexp.MustCompile(`^map (\S+), class (\S+), flags [0-9a-f]+, file (.*),$`)
	appDebugLine  = regexp.MustCompile(`^\tapp (.*), domain .*$`)
)

type smView struct {
	msgs    []string // "<cf>: line N: ..." lines
	options []string // Name[.sub]=value
	maps    map[string]string
}

func readView(out, cf string) smView {
	v := smView{maps: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lastMap := ""
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, cf+": line "):
			v.msgs = append(v.msgs, l)
		case setoptionLine.MatchString(l):
			m := setoptionLine.FindStringSubmatch(l)
			v.options = append(v.options, m[1]+m[2]+"="+m[3])
		case mapDebugLine.MatchString(l):
			m := mapDebugLine.FindStringSubmatch(l)
			lastMap = m[1]
			v.maps[m[1]] = "class=" + m[2] + " file=" + m[3]
		case appDebugLine.MatchString(l) && lastMap != "":
			v.maps[lastMap] += " app=" + appDebugLine.FindStringSubmatch(l)[1]
			lastMap = ""
		}
	}
	return v
}

// ourView is the same listing made from a Config.
func ourView(c *Config, err error, cf string) smView {
	v := smView{maps: map[string]string{}}
	for _, e := range unjoin(err) {
		// readView sees sendmail's output line by line, so a message
		// that holds a newline is compared up to it.
		first, _, _ := strings.Cut(e.Error(), "\n")
		v.msgs = append(v.msgs, first)
	}
	for _, w := range c.Warnings {
		if strings.HasPrefix(w, cf+": line ") {
			v.msgs = append(v.msgs, w)
		}
	}
	for _, o := range c.Options {
		name := o.Name
		if o.Sub != "" {
			name += "." + o.Sub
		}
		v.options = append(v.options, name+"="+o.Value)
	}
	for _, name := range c.MapOrder {
		m := c.Maps[name]
		file, app := m.File, m.Append()
		if file == "" {
			file = "(null)"
		}
		if !m.Has('a') {
			app = "(null)"
		}
		v.maps[name] = "class=" + m.Class + " file=" + file + " app=" + app
	}
	return v
}

// TestAgainstSendmail loads every cf vector and the cf m4 makes of every
// snippet mc, and compares with what the real sendmail 8.17 read from the
// same file under -d37.5: the options it set (canonical name, sub-option
// and value, in order), the maps it declared (class, file, -a string) and
// the "<file>: line N:" messages it printed.
func TestAgainstSendmail(t *testing.T) {
	sb := newSandbox(t)
	m4 := requireSendmailCF(t)
	var cfs []string
	vec, _ := filepath.Glob(filepath.Join("testdata", "cf", "*.cf"))
	for _, f := range vec {
		abs, _ := filepath.Abs(f)
		cfs = append(cfs, abs)
	}
	mcs, _ := filepath.Glob(filepath.Join("testdata", "mc", "*.mc"))
	if len(vec) < 8 || len(mcs) < 50 {
		t.Fatalf("vectors missing: %d cf, %d mc", len(vec), len(mcs))
	}
	gen := t.TempDir()
	for _, mc := range mcs {
		cfs = append(cfs, m4cf(t, m4, mc, gen))
	}
	for _, cf := range cfs {
		t.Run(filepath.Base(cf), func(t *testing.T) {
			want := readView(sb.bt(t, cf, "37.5"), cf)
			c, err := Load(cf, Options{})
			if c == nil {
				t.Fatalf("Load: %v", err)
			}
			got := ourView(c, err, cf)
			sort.Strings(want.msgs)
			sort.Strings(got.msgs)
			if diff := cmp.Diff(want.msgs, got.msgs); diff != "" {
				t.Errorf("messages (-sendmail +ours):\n%s", diff)
			}
			if len(want.options) < len(got.options) {
				t.Fatalf("sendmail set %d options, we read %d:\n%s", len(want.options), len(got.options), strings.Join(want.options, "\n"))
			}
			if diff := cmp.Diff(want.options[:len(got.options)], got.options); diff != "" {
				t.Errorf("options (-sendmail +ours):\n%s", diff)
			}
			for name, g := range got.maps {
				if w := want.maps[name]; w != g {
					t.Errorf("map %s: sendmail %q, ours %q", name, w, g)
				}
			}
		})
	}
}

// TestErrorsAgainstSendmail feeds each bad line of TestErrors to the real
// sendmail and checks that it prints exactly the messages we expect.
func TestErrorsAgainstSendmail(t *testing.T) {
	sb := newSandbox(t)
	dir := t.TempDir()
	for i, tt := range badLines {
		t.Run(tt.line, func(t *testing.T) {
			cf := filepath.Join(dir, fmt.Sprintf("bad%d.cf", i))
			if err := os.WriteFile(cf, []byte("V10/Berkeley\nDjmx.example\n"+tt.line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			got := readView(sb.bt(t, cf, "0"), cf).msgs
			var want []string
			for _, w := range tt.want {
				want = append(want, cf+": line 3: "+w)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-ours +sendmail):\n%s", diff)
			}
		})
	}
}

// TestClassFileAgainstSendmail reads the same word file through F lines
// with and without a scanf format and compares the classes with what
// sendmail -bt prints for $={class}.
func TestClassFileAgainstSendmail(t *testing.T) {
	sb := newSandbox(t)
	dir := t.TempDir()
	words := filepath.Join(dir, "words")
	if err := os.WriteFile(words, []byte("one two\n# comment line\nthree#four five\n\tsix\tseven  \n\n  eight # nine\nTen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "cls.cf")
	src := "V10/Berkeley\nO DontBlameSendmail=TrustStickyBit\n" +
		"F{Fmt}" + words + " %[^\\#]\n" +
		"F{Plain}" + words + "\n" +
		"F{Tab}" + words + " %[^\\#\t]\n" +
		"F{Opt}-o " + filepath.Join(dir, "missing") + "\n"
	if err := os.WriteFile(cf, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && mount --bind "$1/hosts" /etc/hosts && exec "$2" -C "$3" -bt`
	cmd := exec.Command(sb.unshare, "-m", "sh", "-c", script, "sh", sb.dir, sb.sendmail, cf)
	cmd.Stdin = strings.NewReader("$={Fmt}\n$={Plain}\n$={Tab}\n$={Opt}\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	// The answers follow the "> " prompts, one word per line.
	sections := strings.Split(string(out), "\n> ")[1:]
	if len(sections) < 4 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	c, err := Load(cf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, class := range []string{"Fmt", "Plain", "Tab", "Opt"} {
		want := strings.Fields(strings.TrimSuffix(strings.TrimSpace(sections[i]), ">"))
		got := append([]string(nil), c.Class(class)...)
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
			t.Errorf("class %s (-sendmail +ours):\n%s", class, diff)
		}
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
})

// TestLoadGenerated loads the cf GNU m4 makes of every snippet mc (no
// sendmail needed): none may give an error.
func TestLoadGenerated(t *testing.T) {
	m4 := requireSendmailCF(t)
	mcs, _ := filepath.Glob(filepath.Join("testdata", "mc", "*.mc"))
	dir := t.TempDir()
	for _, mc := range mcs {
		t.Run(filepath.Base(mc), func(t *testing.T) {
			cf := m4cf(t, m4, mc, dir)
			c, err := Load(cf, Options{NoClassFiles: true, NoUserLookup: true})
			// The client_options snippet has Port=*, which sendmail
			// itself rejects the same way.
			if err != nil && !(filepath.Base(mc) == "client_options.mc" && strings.HasSuffix(err.Error(), `service "*" unknown`)) {
				t.Fatal(err)
			}
			if c.Version != 10 || len(c.Mailers) == 0 || len(c.Rulesets) == 0 || len(c.Options) == 0 {
				t.Errorf("incomplete: version %d, %d mailers, %d rulesets, %d options", c.Version, len(c.Mailers), len(c.Rulesets), len(c.Options))
			}
		})
	}
}

// TestUnsafeClassFilesAgainstSendmail puts class files in directories of
// several modes and compares the messages for each DontBlameSendmail
// setting with sendmail's.
func TestUnsafeClassFilesAgainstSendmail(t *testing.T) {
	sb := newSandbox(t)
	base := t.TempDir() // under /tmp, which is 1777
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky, 0o775, 0o775 | os.ModeSetgid, 0o755, 0o711} {
		d := filepath.Join(base, fmt.Sprintf("d%o", mode))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("word\n"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, "F{C"+strconv.Itoa(len(lines))+"}"+filepath.Join(d, "f"),
			"F{O"+strconv.Itoa(len(lines))+"}-o "+filepath.Join(d, "missing"),
			"F{M"+strconv.Itoa(len(lines))+"}"+filepath.Join(d, "missing"))
	}
	for i, dbs := range []string{"TrustStickyBit", "TrustStickyBit,GroupWritableDirPathSafe", "ClassFileInUnsafeDirPath", "GroupWritableDirPathSafe"} {
		t.Run(dbs, func(t *testing.T) {
			cf := filepath.Join(base, fmt.Sprintf("t%d.cf", i))
			src := "V10/Berkeley\nO DontBlameSendmail=" + dbs + "\n" + strings.Join(lines, "\n") + "\n"
			if err := os.WriteFile(cf, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			want := readView(sb.bt(t, cf, "0"), cf).msgs
			if dbs != "ClassFileInUnsafeDirPath" && len(want) == 0 {
				t.Fatal("sendmail reported nothing; the test lost its subject")
			}
			_, err := Load(cf, Options{})
			var got []string
			for _, e := range unjoin(err) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-sendmail +ours):\n%s", diff)
			}
		})
	}
}

// TestAccessFeaturesGenerated checks AccessFeatures on cf files m4 makes
// from the FEATURE lines themselves.
func TestAccessFeaturesGenerated(t *testing.T) {
	m4 := requireSendmailCF(t)
	dir := t.TempDir()
	head := "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl\n"
	tail := "MAILER(`local')dnl\nMAILER(`smtp')dnl\n"
	for _, tt := range []struct {
		name, mc string
		want     AccessFeatures
	}{
		{"plain", "FEATURE(`access_db')dnl\n", AccessFeatures{}},
		{"skip", "FEATURE(`access_db', , `skip')dnl\n", AccessFeatures{Skip: true}},
		{"dotdomain", "FEATURE(`access_db')dnl\nFEATURE(`lookupdotdomain')dnl\n", AccessFeatures{LookupDotDomain: true}},
		{"delay", "FEATURE(`access_db')dnl\nFEATURE(`delay_checks')dnl\n", AccessFeatures{DelayChecks: true}},
		{"blocklist", "FEATURE(`access_db')dnl\nFEATURE(`blocklist_recipients')dnl\n", AccessFeatures{BlocklistRecipients: true}},
		{"rejectmsg", "define(`confREJECT_MSG', `\"550 5.7.1 Go away\"')dnl\nFEATURE(`access_db')dnl\n", AccessFeatures{RejectMsg: `"550 5.7.1 Go away"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mc := filepath.Join(dir, tt.name+".mc")
			if err := os.WriteFile(mc, []byte(head+tt.mc+tail), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(m4cf(t, m4, mc, dir), Options{NoClassFiles: true, NoUserLookup: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.AccessFeatures()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
