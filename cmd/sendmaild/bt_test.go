// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/internal/testutil/dnstest"
	"mailsuite/pkg/cf"
)

// btInput is what TestBTDifferential types into both -bt modes.
const btInput = `/map access Connect:127.0.0
/map access connect:127.0.0.5
/map access To:blocked@hamap.local
/map access To:blocked@hamap.local  x
/map  access   Connect:127.0.0
/MAP access Connect:127.0.0
/map nosuch x
/map
/map access
/map missing x
/map missing y
/map opt x
/map seq Connect:127.0.0
/map seq nothing
/map mc CONNECT:127.0.0
/map low connect:127.0.0
/map low Connect:127.0.0
$=w
$=R
$=Z
$={TrustAuthMech}
$j
$Z
$q
/foo
# a comment

/quit
/map access Connect:127.0.0
`

// TestBTDifferential runs the same -bt input through the real sendmail
// (in its own mount and UTS namespace, with a private hosts file and a
// loopback resolv.conf) and ours, on the smtpd tests' cf with extra maps,
// and compares the output byte for byte.
func TestBTDifferential(t *testing.T) {
	testutil.RequireRoot(t, "the real sendmail runs in its own mount namespace")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	makemap := testutil.Oracle(t, "makemap", "sendmail-bin")
	unshare := testutil.Oracle(t, "unshare", "util-linux")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	mc := filepath.Join(testutil.RepoRoot(t), "internal", "smtpd", "testdata", "hamap.mc")
	out, err := exec.Command(m4, "-D_NO_MAKEINFO_", "-DWORKDIR="+dir, "-DLISTEN=127.0.0.21", "-DPORT=2525", "-DWITH_AUTH", mc).Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	cfText := string(out) + "Kmissing hash " + dir + "/nothere\nKopt hash -o " + dir + "/nothere2\n" +
		"Kseq sequence opt access\nKmc hash -m -a.FOUND " + dir + "/access\nKlow hash -f " + dir + "/access\n"
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sendmail.cf", cfText)
	write("local-host-names", "hamap.local\nmail.hamap.local\n")
	write("relay-domains", "")
	access := "Connect:127.0.0 RELAY\nTo:blocked@hamap.local REJECT\n"
	write("access", access)
	mk := exec.Command(makemap, "hash", filepath.Join(dir, "access"))
	mk.Stdin = strings.NewReader(access)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("makemap: %v: %s", err, out)
	}
	write("resolv.conf", "nameserver 127.0.0.1\n")
	write("hosts", "127.0.0.1 localhost\n127.0.0.21 mail.hamap.local mail\n")
	write("service.switch", "hosts files\naliases files\n")
	write("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n")
	os.Mkdir(filepath.Join(dir, "mqueue"), 0o700)
	cfPath := filepath.Join(dir, "sendmail.cf")

	script := `set -e
echo mail.hamap.local > /proc/sys/kernel/hostname
for f in resolv.conf hosts nsswitch.conf; do mount --bind "$1/$f" /etc/$f; done
exec "$2" -C "$3" -bt`
	cmd := exec.Command(unshare, "--mount", "--uts", "--propagation", "private", "sh", "-c", script, "sh", dir, sendmail, cfPath)
	cmd.Stdin = strings.NewReader(btInput)
	var realErr strings.Builder
	cmd.Stderr = &realErr
	want, err := cmd.Output()
	wantCode := 0
	if ee, ok := err.(*exec.ExitError); ok {
		wantCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("real sendmail -bt: %v: %s", err, realErr.String())
	}

	dns := dnstest.New(t)
	dns.AddA("mail.hamap.local", "127.0.0.21")
	os.Mkdir(filepath.Join(dir, "dns"), 0o755)
	rc, err := dns.WriteResolvConf(filepath.Join(dir, "dns"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(dnstest.EnvVar, rc)
	var got, errb strings.Builder
	code := run("sendmail", []string{"-C", cfPath, "-L", filepath.Join(dir, "maillog"), "-bt"}, strings.NewReader(btInput), &got, &errb)
	if code != wantCode {
		t.Errorf("exit status %d, the real sendmail's %d (stderr %q)", code, wantCode, errb.String())
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("-bt output (-sendmail +ours):\n%s", diff)
	}
}

// FuzzAddressTest feeds arbitrary lines to the -bt command reader: it
// must not panic, and its output must stay line-shaped.
func FuzzAddressTest(f *testing.F) {
	for _, seed := range strings.Split(btInput, "\n") {
		f.Add(seed)
	}
	f.Add("/map seq\tx")
	f.Add("$={")
	f.Add("$")
	c, err := cf.Parse(strings.NewReader("V10/Berkeley\nDjmail.hamap.local\nCwlocalhost\nKseq sequence seq text\nKtext text /nonexistent\n"),
		"fuzz.cf", cf.Options{NoClassFiles: true, NoUserLookup: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var out, errb strings.Builder
		b := &btSession{cf: c, out: bufio.NewWriter(&out), errw: &errb, host: "mail.hamap.local", maps: map[string]*btMap{}}
		defer b.close()
		b.command(strings.TrimRight(line, "\r\n"))
		b.out.Flush()
	})
}
