// SPDX-License-Identifier: MIT

// Package test holds mailsuite's end-to-end tests. This file checks the
// sample configuration under etc/ against the real programs that read it
// (GNU m4 with sendmail-cf, makemap, doveconf) and against ours (mc2cf,
// makemap, dovecotd), and checks `make install`: the layout it produces,
// that it never replaces an admin's file, that systemd accepts the units,
// and that the mail-rebuild helper the sendmaild unit runs rebuilds what is
// stale and nothing else.
package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/aliases"
	"mailsuite/internal/testutil"
)

// commands are the programs under cmd/, which make install installs.
var commands = []string{"dovecotd", "makemap", "mc2cf", "sendmaild"}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binDir returns a directory holding our built commands: $MAILSUITE_BIN
// when the Makefile built them (make test), else a temporary one built now.
func binDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MAILSUITE_BIN"); d != "" {
		ok := true
		for _, c := range commands {
			if _, err := os.Stat(filepath.Join(d, c)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	root := testutil.RepoRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mailsuite-install-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+string(os.PathSeparator), "./cmd/...")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// run runs name with args in dir and returns stdout, stderr and the exit
// status; a failure to start fails the test.
func run(t *testing.T, dir string, env []string, stdin []byte, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), errb.String(), ee.ExitCode()
		}
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), errb.String(), 0
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cfLines is the part of a cf that mc2cf promises to write as m4 does: one
// entry per logical line (continuations joined), without comments, blank
// lines, rulesets (S and R) and the DZ version line, sorted with
// duplicates kept.
func cfLines(cf string) []string {
	var logical []string
	sc := bufio.NewScanner(strings.NewReader(cf))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(logical) > 0 {
			logical[len(logical)-1] += "\n" + line
			continue
		}
		logical = append(logical, line)
	}
	var out []string
	for _, l := range logical {
		if strings.TrimSpace(l) == "" || l[0] == '#' || l[0] == 'S' || l[0] == 'R' || strings.HasPrefix(l, "DZ") {
			continue
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// seedCfLines are cf lines the hamap.local runbook depends on (anchor
// behaviour §1, with the listener on every interface).
var seedCfLines = []struct{ name, line string }{
	{"listener on all interfaces", "O DaemonPortOptions=Port=smtp, Name=MTA"},
	{"hamap.local is local", "C{w}hamap.local"},
	{"localhost.localdomain is local", "C{w}localhost.localdomain"},
	{"local-host-names", "Fw/etc/mail/local-host-names"},
	{"access map", "Kaccess hash -T<TMPF> -o /etc/mail/access.db"},
	{"alias file", "O AliasFile=/etc/mail/aliases"},
	{"privacy", "O PrivacyOptions=authwarnings,novrfy,noexpn,restrictqrun"},
	{"default user", "O DefaultUser=8:8"},
	{"auth options", "O AuthOptions=A"},
	{"no ident", "O Timeout.ident=0"},
	{"procmail", "Mlocal,\t\tP=/usr/bin/procmail, F=lsDFMAw5:/|@qSPfhn9, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL,\n\t\tT=DNS/RFC822/X-Unix,\n\t\tA=procmail -t -Y -a $h -d $u"},
}

func checkSeedLines(t *testing.T, lines []string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range lines {
		have[l] = true
		if strings.HasPrefix(l, "O DaemonPortOptions=") && strings.Contains(l, "Addr=") {
			t.Errorf("listener still restricted: %q", l)
		}
	}
	for _, tc := range seedCfLines {
		t.Run(tc.name, func(t *testing.T) {
			if !have[tc.line] {
				t.Errorf("cf lacks %q", tc.line)
			}
		})
	}
}

// TestSampleMC compiles etc/mail/sendmail.mc with GNU m4 + sendmail-cf
// and with our mc2cf, and compares the two.
func TestSampleMC(t *testing.T) {
	root := testutil.RepoRoot(t)
	mc := filepath.Join(root, "etc", "mail", "sendmail.mc")
	m4 := testutil.Oracle(t, "m4", "m4")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if _, err2 := os.Stat("/usr/share/sendmail-cf/m4/cf.m4"); err2 != nil {
			msg := "sendmail-cf macros not installed (Debian package sendmail-cf)"
			if testutil.InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	dir := t.TempDir()
	want, wantErr, rc := run(t, dir, nil, nil, m4, mc)
	if rc != 0 || wantErr != "" {
		t.Fatalf("m4 sendmail.mc: exit %d, stderr:\n%s", rc, wantErr)
	}
	t.Run("m4", func(t *testing.T) { checkSeedLines(t, cfLines(want)) })

	mc2cf := filepath.Join(binDir(t), "mc2cf")
	got, gotErr, rc := run(t, dir, nil, nil, mc2cf, mc)
	if rc != 0 {
		t.Fatalf("mc2cf sendmail.mc: exit %d, stderr:\n%s", rc, gotErr)
	}
	t.Run("mc2cf", func(t *testing.T) {
		if d := cmp.Diff(cfLines(want), cfLines(got)); d != "" {
			t.Errorf("cf lines differ (-m4 +mc2cf):\n%s", d)
		}
		if d := cmp.Diff(wantErr, gotErr); d != "" {
			t.Errorf("stderr differs (-m4 +mc2cf):\n%s", d)
		}
	})
}

// TestSampleMCIncludePaths compiles the sample mc with m4 where the
// sendmail-cf macros sit at Rocky's path only, and at both paths (Debian
// with the /usr/share/sendmail-cf link), by mounting a private /usr/share
// in a mount namespace: the mc must load the macros exactly once either
// way and give the same cf as on plain Debian.
func TestSampleMCIncludePaths(t *testing.T) {
	testutil.RequireRoot(t, "mounts a private /usr/share in a mount namespace")
	m4 := testutil.Oracle(t, "m4", "m4")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	const debianCf = "/usr/share/sendmail/cf"
	if _, err := os.Stat(debianCf + "/m4/cf.m4"); err != nil {
		msg := "sendmail-cf macros not installed (Debian package sendmail-cf)"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	mc := filepath.Join(testutil.RepoRoot(t), "etc", "mail", "sendmail.mc")
	work := t.TempDir()
	plain, errs, rc := run(t, work, nil, nil, m4, mc)
	if rc != 0 || errs != "" {
		t.Fatalf("m4: exit %d, stderr:\n%s", rc, errs)
	}
	tests := []struct {
		name  string
		dirs  []string // macro directories under the private /usr/share
		using string   // the include directory the cf header names
	}{
		{"rocky path only", []string{"sendmail-cf"}, "/usr/share/sendmail-cf/"},
		{"both paths", []string{"sendmail-cf", "sendmail/cf"}, "/usr/share/sendmail-cf/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			share := t.TempDir()
			script := "set -e\n"
			args := []string{"-m", "--propagation", "private", "sh", "-c", "", "sh", debianCf, share, m4, mc}
			for _, d := range tc.dirs {
				if err := os.MkdirAll(filepath.Join(share, d), 0o755); err != nil {
					t.Fatal(err)
				}
				script += `mount --bind "$1" "$2/` + d + "\"\n"
			}
			script += "mount --rbind \"$2\" /usr/share\nexec \"$3\" \"$4\"\n"
			args[5] = script
			got, errs, rc := run(t, work, nil, nil, unshare, args...)
			if rc != 0 || errs != "" {
				t.Fatalf("m4 in namespace: exit %d, stderr:\n%s", rc, errs)
			}
			if want := "##### using " + tc.using + " as configuration include directory\n"; !strings.Contains(got, want) {
				t.Errorf("cf header lacks %q", want)
			}
			if d := cmp.Diff(cfLines(plain), cfLines(got)); d != "" {
				t.Errorf("cf lines differ (-plain Debian +%s):\n%s", tc.name, d)
			}
		})
	}
}

// accessWant is what makemap -u lists for etc/mail/access, sorted: Rocky's
// three localhost lines and the runbook's two, keys folded to lower case.
var accessWant = []string{
	"connect:10.0.0\tRELAY",
	"connect:127.0.0.1\tRELAY",
	"connect:hamap.local\tRELAY",
	"connect:localhost\tRELAY",
	"connect:localhost.localdomain\tRELAY",
}

func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	sort.Strings(l)
	return l
}

// TestSampleAccess builds etc/mail/access with the real makemap and with
// ours, as the runbook does, and lists both maps.
func TestSampleAccess(t *testing.T) {
	src := []byte(readFile(t, filepath.Join(testutil.RepoRoot(t), "etc", "mail", "access")))
	tests := []struct{ name, prog string }{
		{"debian makemap", ""},
		{"our makemap", "ours"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog := filepath.Join(binDir(t), "makemap")
			if tc.prog == "" {
				prog = testutil.Oracle(t, "makemap", "sendmail-bin")
			}
			dir := t.TempDir()
			out, errs, rc := run(t, dir, nil, src, prog, "hash", "access")
			if rc != 0 || out != "" || errs != "" {
				t.Fatalf("makemap hash access < access: exit %d, stdout %q, stderr %q", rc, out, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "access.db")); err != nil {
				t.Fatal(err)
			}
			out, errs, rc = run(t, dir, nil, nil, prog, "-u", "hash", "access")
			if rc != 0 || errs != "" {
				t.Fatalf("makemap -u: exit %d, stderr %q", rc, errs)
			}
			if d := cmp.Diff(accessWant, sortedLines(out)); d != "" {
				t.Errorf("map contents (-want +got):\n%s", d)
			}
		})
	}
}

// TestSampleAliases reads etc/mail/aliases as newaliases does: no errors,
// the names RFC 5321 and RFC 2142 require, and every alias ends at root.
func TestSampleAliases(t *testing.T) {
	p := filepath.Join(testutil.RepoRoot(t), "etc", "mail", "aliases")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list, errs := aliases.Parse(f, p)
	for _, e := range errs {
		t.Errorf("%v", e)
	}
	m := map[string]string{}
	for _, a := range list {
		m[a.Name] = strings.TrimSpace(a.Value)
	}
	for _, name := range []string{"postmaster", "mailer-daemon", "abuse", "hostmaster", "webmaster", "nobody"} {
		t.Run(name, func(t *testing.T) {
			cur, seen := name, map[string]bool{}
			for {
				next, ok := m[cur]
				if !ok {
					break
				}
				if seen[cur] {
					t.Fatalf("alias loop at %s", cur)
				}
				seen[cur] = true
				cur = next
			}
			if cur != "root" || !seen[name] {
				t.Errorf("%s resolves to %q, want root", name, cur)
			}
		})
	}
}

// settingLines drops doveconf's "#" header lines, which name the program
// and the host.
func settingLines(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestSampleDovecot runs the real doveconf -n and our dovecotd -n on a
// copy of etc/dovecot and expects the same settings, including the
// runbook's edits.
func TestSampleDovecot(t *testing.T) {
	doveconf := testutil.Oracle(t, "doveconf", "dovecot-core")
	dir := filepath.Join(t.TempDir(), "dovecot")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testutil.RepoRoot(t), "etc", "dovecot"))); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "dovecot.conf")
	want, wantErr, rc := run(t, dir, nil, nil, doveconf, "-n", "-c", conf)
	if rc != 0 || wantErr != "" {
		t.Fatalf("doveconf -n: exit %d, stderr:\n%s", rc, wantErr)
	}
	want = settingLines(want)
	for _, line := range []string{
		"protocols = imap pop3\n",
		"listen = *\n",
		"ssl = no\n",
		"disable_plaintext_auth = no\n",
		"mail_location = mbox:~/mail:INBOX=/var/mail/%u\n",
		"mail_privileged_group = mail\n",
		"passdb {\n  driver = pam\n}\n",
		"userdb {\n  driver = passwd\n}\n",
		"  mailbox Sent {\n    special_use = \\Sent\n  }\n",
	} {
		t.Run("doveconf has "+strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]), func(t *testing.T) {
			if !strings.Contains(want, line) {
				t.Errorf("doveconf -n lacks %q:\n%s", line, want)
			}
		})
	}
	got, gotErr, rc := run(t, dir, nil, nil, filepath.Join(binDir(t), "dovecotd"), "-n", "-c", conf)
	if rc != 0 || gotErr != "" {
		t.Fatalf("dovecotd -n: exit %d, stderr:\n%s", rc, gotErr)
	}
	if d := cmp.Diff(want, settingLines(got)); d != "" {
		t.Errorf("settings differ (-doveconf +dovecotd):\n%s", d)
	}
}

// placeholderBin returns a directory with a small executable per command,
// for install tests about the configuration files, where copying the real
// binaries would only cost time.
func placeholderBin(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, c := range commands {
		if err := os.WriteFile(filepath.Join(d, c), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// makeInstall runs `make install` from the checkout with our prebuilt
// binaries (the build step is skipped with -o build) and extra variables;
// an INSTALL_BIN among them replaces the built binaries.
func makeInstall(t *testing.T, vars ...string) string {
	t.Helper()
	makeProg, err := exec.LookPath("make")
	if err != nil {
		msg := "make not found (Debian package make)"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var env []string
	for _, kv := range os.Environ() {
		// Do not inherit the jobserver or flags of a make that runs us.
		if !strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
			env = append(env, kv)
		}
	}
	args := []string{"-s", "-o", "build", "install"}
	if !strings.HasPrefix(strings.Join(vars, "\n"), "INSTALL_BIN=") && !strings.Contains(strings.Join(vars, "\n"), "\nINSTALL_BIN=") {
		args = append(args, "INSTALL_BIN="+binDir(t))
	}
	args = append(args, vars...)
	out, errs, rc := run(t, testutil.RepoRoot(t), env, nil, makeProg, args...)
	if rc != 0 {
		t.Fatalf("make %s: exit %d\n%s%s", strings.Join(args, " "), rc, out, errs)
	}
	return out
}

// entry describes one installed path: a regular file with a mode, or a
// symbolic link with its target.
type entry struct {
	Mode fs.FileMode
	Link string
}

// tree lists every file and link under root, by path relative to root.
func tree(t *testing.T, root string) map[string]entry {
	t.Helper()
	m := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{Mode: fi.Mode().Perm()}
		if fi.Mode()&fs.ModeSymlink != 0 {
			e = entry{Link: must(os.Readlink(p))}
		}
		m[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// samples are the files under etc/mail and etc/dovecot, relative to etc/.
var samples = []string{
	"dovecot/conf.d/10-auth.conf",
	"dovecot/conf.d/10-mail.conf",
	"dovecot/conf.d/10-master.conf",
	"dovecot/conf.d/10-ssl.conf",
	"dovecot/conf.d/15-mailboxes.conf",
	"dovecot/conf.d/20-pop3.conf",
	"dovecot/conf.d/auth-system.conf.ext",
	"dovecot/dovecot.conf",
	"mail/access",
	"mail/aliases",
	"mail/local-host-names",
	"mail/sendmail.mc",
}

// TestInstallLayout installs into an empty DESTDIR and compares the whole
// tree with the layout make install promises for PREFIX=/usr/local, then
// for PREFIX=/usr (units under /lib/systemd/system, as Debian has them).
func TestInstallLayout(t *testing.T) {
	base := map[string]entry{
		"sbin/dovecotd":                  {Mode: 0o755},
		"sbin/makemap":                   {Mode: 0o755},
		"sbin/mc2cf":                     {Mode: 0o755},
		"sbin/sendmaild":                 {Mode: 0o755},
		"sbin/sendmail":                  {Link: "sendmaild"},
		"sbin/newaliases":                {Link: "sendmaild"},
		"bin/mailq":                      {Link: "@/sbin/sendmaild"},
		"lib/sendmail":                   {Link: "@/sbin/sendmaild"},
		"libexec/mailsuite/mail-rebuild": {Mode: 0o755},
		"share/man/man8/sendmaild.8":     {Mode: 0o644},
		"share/man/man8/makemap.8":       {Mode: 0o644},
		"share/man/man8/mc2cf.8":         {Mode: 0o644},
		"share/man/man8/dovecotd.8":      {Mode: 0o644},
	}
	tests := []struct {
		name, prefix, unitdir string
	}{
		{"prefix /usr/local", "/usr/local", "usr/local/lib/systemd/system"},
		{"prefix /usr", "/usr", "lib/systemd/system"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			makeInstall(t, "DESTDIR="+dest, "PREFIX="+tc.prefix)
			want := map[string]entry{}
			for p, e := range base {
				e.Link = strings.Replace(e.Link, "@", tc.prefix, 1)
				want[strings.TrimPrefix(tc.prefix, "/")+"/"+p] = e
			}
			for _, u := range []string{"sendmaild.service", "dovecotd.service"} {
				want[tc.unitdir+"/"+u] = entry{Mode: 0o644}
			}
			for _, s := range samples {
				want["etc/"+s] = entry{Mode: 0o644}
			}
			if d := cmp.Diff(want, tree(t, dest)); d != "" {
				t.Errorf("installed tree (-want +got):\n%s", d)
			}
			root := testutil.RepoRoot(t)
			for _, s := range samples {
				if readFile(t, filepath.Join(dest, "etc", s)) != readFile(t, filepath.Join(root, "etc", s)) {
					t.Errorf("etc/%s differs from the sample", s)
				}
			}
			for _, c := range commands {
				if readFile(t, filepath.Join(dest, tc.prefix, "sbin", c)) != readFile(t, filepath.Join(binDir(t), c)) {
					t.Errorf("sbin/%s is not the built binary", c)
				}
			}
			unit := readFile(t, filepath.Join(dest, tc.unitdir, "sendmaild.service"))
			for _, l := range []string{
				"ExecStartPre=-" + tc.prefix + "/libexec/mailsuite/mail-rebuild /etc/mail\n",
				"ExecStart=" + tc.prefix + "/sbin/sendmaild -bd $SENDMAILD_OPTS\n",
				"Environment=SENDMAILD_OPTS=-q1h\n",
			} {
				if !strings.Contains(unit, l) {
					t.Errorf("sendmaild.service lacks %q", l)
				}
			}
			if !strings.Contains(readFile(t, filepath.Join(dest, tc.unitdir, "dovecotd.service")), "ExecStart="+tc.prefix+"/sbin/dovecotd -F -c /etc/dovecot/dovecot.conf\n") {
				t.Error("dovecotd.service: wrong ExecStart")
			}
			script := readFile(t, filepath.Join(dest, tc.prefix, "libexec/mailsuite/mail-rebuild"))
			if !strings.Contains(script, "PATH="+tc.prefix+"/sbin:") {
				t.Error("mail-rebuild: SBINDIR not substituted")
			}
			for _, f := range []string{unit, script} {
				if strings.Contains(f, "@SBINDIR@") || strings.Contains(f, "@LIBEXECDIR@") {
					t.Error("placeholder left unsubstituted")
				}
			}
		})
	}
}

// TestInstallKeepsAdminFiles installs over existing configurations: no
// admin file is changed, and no sample is added beside one whose compiled
// form or main file is there (it would change the running configuration).
func TestInstallKeepsAdminFiles(t *testing.T) {
	tests := []struct {
		name      string
		reinstall bool              // install once before writing existing
		existing  map[string]string // etc-relative path -> content ("->x": a link to x)
		skipped   []string          // samples that must not be installed
	}{
		{
			name:      "modified samples from an earlier install",
			reinstall: true,
			existing:  map[string]string{"mail/access": "Connect:192.168.1 RELAY\n", "dovecot/conf.d/10-mail.conf": "mail_location = maildir:~/Maildir\n"},
		},
		{
			name:     "compiled sendmail.cf without its mc",
			existing: map[string]string{"mail/sendmail.cf": "V10/Berkeley\n"},
			skipped:  []string{"mail/sendmail.mc"},
		},
		{
			name:     "access.db and aliases.db without sources",
			existing: map[string]string{"mail/access.db": "db", "mail/aliases.db": "db"},
			skipped:  []string{"mail/access", "mail/aliases"},
		},
		{
			name:     "existing dovecot.conf",
			existing: map[string]string{"dovecot/dovecot.conf": "protocols = imap\n"},
			skipped:  []string{"dovecot/conf.d/10-auth.conf", "dovecot/conf.d/10-mail.conf", "dovecot/conf.d/10-master.conf", "dovecot/conf.d/10-ssl.conf", "dovecot/conf.d/15-mailboxes.conf", "dovecot/conf.d/20-pop3.conf", "dovecot/conf.d/auth-system.conf.ext"},
		},
		{
			name:     "dangling aliases link, as Debian's /etc/mail/aliases -> ../aliases",
			existing: map[string]string{"mail/aliases": "->../aliases"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			etc := filepath.Join(dest, "etc")
			bin := "INSTALL_BIN=" + placeholderBin(t)
			if tc.reinstall {
				makeInstall(t, bin, "DESTDIR="+dest)
			}
			old := time.Now().Add(-time.Hour)
			for p, content := range tc.existing {
				full := filepath.Join(etc, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				os.Remove(full)
				if target, ok := strings.CutPrefix(content, "->"); ok {
					if err := os.Symlink(target, full); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(full, old, old); err != nil {
					t.Fatal(err)
				}
			}
			out := makeInstall(t, bin, "DESTDIR="+dest)
			for p, content := range tc.existing {
				full := filepath.Join(etc, p)
				fi, err := os.Lstat(full)
				if err != nil {
					t.Fatal(err)
				}
				if target, ok := strings.CutPrefix(content, "->"); ok {
					if got, _ := os.Readlink(full); got != target {
						t.Errorf("%s: link now points to %q", p, got)
					}
				} else if got := readFile(t, full); got != content || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(old) {
					t.Errorf("%s was changed: %q, mode %v, mtime %v", p, got, fi.Mode().Perm(), fi.ModTime())
				}
				if isSample(p) && !strings.Contains(out, "keeping "+full+" (sample not installed)\n") {
					t.Errorf("make install did not say it kept %s:\n%s", full, out)
				}
			}
			for _, s := range tc.skipped {
				if _, err := os.Lstat(filepath.Join(etc, s)); err == nil {
					t.Errorf("sample %s installed beside the admin's files", s)
				}
				if !strings.Contains(out, "not installing "+filepath.Join(etc, s)+": ") {
					t.Errorf("make install did not say why it skipped %s:\n%s", s, out)
				}
			}
		})
	}
}

func isSample(p string) bool {
	for _, s := range samples {
		if s == p {
			return true
		}
	}
	return false
}

// TestUnitsVerify installs with a real prefix (so that the units' paths
// exist) and asks systemd-analyze verify about both units, with the man
// pages they cite looked up in the installed tree.
func TestUnitsVerify(t *testing.T) {
	analyze := testutil.Oracle(t, "systemd-analyze", "systemd")
	top := t.TempDir()
	makeInstall(t, "PREFIX="+top+"/usr", "SYSCONFDIR="+top+"/etc")
	units := filepath.Join(top, "usr", "lib", "systemd", "system")
	env := append(os.Environ(), "MANPATH="+filepath.Join(top, "usr", "share", "man"), "SYSTEMD_LOG_COLOR=0")
	manFlag := "--man=yes"
	if _, err := exec.LookPath("man"); err != nil {
		manFlag = "--man=no"
		t.Log("man not installed: not checking the units' Documentation= pages")
	}
	// Unknown keys and bad values are only warnings to systemd-analyze,
	// so any output at all is a failure.
	out, errs, rc := run(t, top, env, nil, analyze, "verify", manFlag,
		filepath.Join(units, "sendmaild.service"), filepath.Join(units, "dovecotd.service"))
	if rc != 0 || out != "" || errs != "" {
		t.Errorf("systemd-analyze verify: exit %d\n%s%s", rc, out, errs)
	}
}

// TestMailRebuild runs the installed mail-rebuild helper on a mail
// directory: it compiles the mc and the access map when they are missing
// or older than their sources, leaves fresh files alone, keeps the old cf
// when the mc is broken, and says what it did.
func TestMailRebuild(t *testing.T) {
	top := t.TempDir()
	makeInstall(t, "PREFIX="+top+"/usr", "SYSCONFDIR="+top+"/etc")
	script := filepath.Join(top, "usr", "libexec", "mailsuite", "mail-rebuild")
	mail := filepath.Join(top, "etc", "mail")
	cf := filepath.Join(mail, "sendmail.cf")
	db := filepath.Join(mail, "access.db")
	// make install put the samples there; no aliases, whose rebuild needs
	// sendmaild -bi.
	if err := os.Remove(filepath.Join(mail, "aliases")); err != nil {
		t.Fatal(err)
	}
	// makemap warns about the sticky /tmp above the test's directory, as
	// Sendmail's makemap does; those lines are not the helper's.
	rebuild := func(t *testing.T) (string, int) {
		t.Helper()
		out, errs, rc := run(t, top, nil, nil, "/bin/sh", script, mail)
		var kept []string
		for _, l := range strings.SplitAfter(out+errs, "\n") {
			if !strings.HasPrefix(l, "WARNING: World writable directory ") {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, ""), rc
	}
	mtime := func(p string) time.Time {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	age := func(p string, d time.Duration) {
		ts := time.Now().Add(-d)
		if err := os.Chtimes(p, ts, ts); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("first run builds both", func(t *testing.T) {
		out, rc := rebuild(t)
		want := "mail-rebuild: " + cf + ": rebuilding from sendmail.mc\n" +
			"mail-rebuild: " + db + ": rebuilding from access\n"
		if rc != 0 || out != want {
			t.Fatalf("exit %d, output:\n%s\nwant:\n%s", rc, out, want)
		}
		ref, errs, rc := run(t, top, nil, nil, filepath.Join(binDir(t), "mc2cf"), filepath.Join(mail, "sendmail.mc"))
		if rc != 0 {
			t.Fatalf("mc2cf: %s", errs)
		}
		if d := cmp.Diff(cfLines(ref), cfLines(readFile(t, cf))); d != "" {
			t.Errorf("sendmail.cf (-mc2cf +mail-rebuild):\n%s", d)
		}
		list, errs, rc := run(t, mail, nil, nil, filepath.Join(binDir(t), "makemap"), "-u", "hash", "access")
		if rc != 0 {
			t.Fatalf("makemap -u: %s", errs)
		}
		if d := cmp.Diff(accessWant, sortedLines(list)); d != "" {
			t.Errorf("access.db (-want +got):\n%s", d)
		}
	})
	t.Run("fresh files are left alone", func(t *testing.T) {
		for _, p := range []string{filepath.Join(mail, "sendmail.mc"), filepath.Join(mail, "access")} {
			age(p, 2*time.Hour)
		}
		age(cf, time.Hour)
		age(db, time.Hour)
		before := []time.Time{mtime(cf), mtime(db)}
		out, rc := rebuild(t)
		if rc != 0 || out != "" {
			t.Fatalf("exit %d, output %q", rc, out)
		}
		if after := []time.Time{mtime(cf), mtime(db)}; !after[0].Equal(before[0]) || !after[1].Equal(before[1]) {
			t.Errorf("files rewritten: %v -> %v", before, after)
		}
	})
	t.Run("newer access only", func(t *testing.T) {
		age(filepath.Join(mail, "access"), 0)
		out, rc := rebuild(t)
		if want := "mail-rebuild: " + db + ": rebuilding from access\n"; rc != 0 || out != want {
			t.Fatalf("exit %d, output %q, want %q", rc, out, want)
		}
	})
	t.Run("broken mc keeps the old cf", func(t *testing.T) {
		good := readFile(t, cf)
		mc := filepath.Join(mail, "sendmail.mc")
		if err := os.WriteFile(mc, []byte(readFile(t, mc)+"FEATURE(`no_such_feature')dnl\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		age(cf, time.Hour)
		out, rc := rebuild(t)
		if rc != 1 || !strings.Contains(out, "no_such_feature") {
			t.Fatalf("exit %d, output:\n%s", rc, out)
		}
		if readFile(t, cf) != good {
			t.Error("sendmail.cf replaced by a failed compile")
		}
	})
}
