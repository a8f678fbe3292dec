// SPDX-License-Identifier: MIT

package remote

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

const oracleMC = "divert(-1)dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ndivert(0)dnl\n" +
	"OSTYPE(`linux')dnl\ndefine(`SMART_HOST', `[127.0.0.13]')dnl\ndefine(`RELAY_MAILER_ARGS', `TCP $h %d')dnl\n" +
	"MAILER(`local')dnl\nMAILER(`smtp')dnl\n"

// vLine is a recipient's line in sendmail -v output: "x... Sent (…)",
// "x... Deferred: …" or "550 5.1.1 x... User unknown".
var vLine = regexp.MustCompile(`^(?:\d{3} \d\.\d+\.\d+ )?(\S+@\S+)\.\.\. (Sent.*|Deferred.*|User unknown.*)$`)

// TestStatAgainstSendmail sends one message to three recipients (one
// accepted, one 451, one 550) through the real sendmail (smart host = a
// loopback sink, private namespace, loopback-only resolv.conf) and
// through the courier to the same sink, and compares the per-recipient
// status texts.
func TestStatAgainstSendmail(t *testing.T) {
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	m4 := testutil.Oracle(t, "m4", "m4")
	testutil.Oracle(t, "unshare", "util-linux")
	testutil.RequireRoot(t, "the real sendmail delivers as root")
	if _, err := os.Stat("/usr/share/sendmail/cf/m4/cf.m4"); err != nil {
		if testutil.InCI() {
			t.Fatal(err)
		}
		t.Skip("sendmail-cf not installed")
	}
	sk, port := startSink(t, "127.0.0.13", 0, nil)

	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o755)
	}
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, mc := range map[string]string{
		"sendmail": fmt.Sprintf(oracleMC, port),
		// A smart host with nothing listening: connection refused.
		"down": strings.Replace(fmt.Sprintf(oracleMC, port), "127.0.0.13", "127.0.0.16", 1),
	} {
		write(name+".mc", mc)
		cfText, err := exec.Command(m4, filepath.Join(dir, name+".mc")).Output()
		if err != nil {
			t.Fatalf("m4: %v", err)
		}
		write(name+".cf", string(cfText))
	}
	logSock := filepath.Join(dir, "log.sock")
	syslogLines := testutil.Syslog(t, logSock)
	write("hosts", "127.0.0.1 mail.hamap.local mail localhost\n127.0.0.14 sender.example\n127.0.0.15 outside.example\n")
	write("resolv.conf", "nameserver 127.0.0.1\n")
	write("aliases", "postmaster: root\n")
	write("msg", "From: sender@sender.example\nSubject: t\n\nbody\n")
	for _, d := range []string{"mqueue", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	rcpts := []string{"ok@outside.example", "slow@outside.example", "bad@outside.example"}
	script := fmt.Sprintf(`set -e
for f in resolv.conf hosts; do mount --bind %[1]s/$f /etc/$f; done
mount --bind %[1]s/root /root
hostname mail.hamap.local
mkdir %[1]s/realdev
mount --bind /dev %[1]s/realdev
mount -t tmpfs tmpfs /dev
for f in null zero random urandom full tty; do touch /dev/$f; mount --bind %[1]s/realdev/$f /dev/$f; done
touch /dev/log
mount --bind %[1]s/log.sock /dev/log
D="%[2]s -C %[1]s/down.cf -O QueueDirectory=%[1]s/mqueue -O AliasFile=%[1]s/aliases -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe -O QueueLA=10000 -O RefuseLA=10000"
S="%[2]s -C %[1]s/sendmail.cf -O QueueDirectory=%[1]s/mqueue -O AliasFile=%[1]s/aliases -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe -O QueueLA=10000 -O RefuseLA=10000"
$S -bi >/dev/null
$S -v -odi -f sender@sender.example %[3]s < %[1]s/msg || true
$D -odi -f sender@sender.example later@outside.example < %[1]s/msg || true
`, dir, sendmail, strings.Join(rcpts, " "))
	cmd := exec.Command("unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	want := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := vLine.FindStringSubmatch(strings.TrimSpace(l)); m != nil && m[1] != "sender@sender.example" {
			want[m[1]] = m[2]
		}
	}
	// The 550 recipient has no line under -v; its line is in the
	// bounce's transcript, which went to the sink.
	var bounce string
	for _, m := range sk.got() {
		if m.From == "" {
			bounce = m.Data
		}
	}
	if m := regexp.MustCompile(`(?m)^550 5\.1\.1 (bad@outside.example)\.\.\. (.*)\r$`).FindStringSubmatch(bounce); m != nil {
		want[m[1]] = m[2]
	}
	if len(want) != len(rcpts) {
		t.Fatalf("sendmail gave %d recipient statuses (%v), want %d:\n%s\nbounce:\n%s", len(want), want, len(rcpts), out, bounce)
	}

	c := &Courier{Resolver: &net.Resolver{PreferGo: true, Dial: refuseDNS}, HeloName: "mail.hamap.local", Port: port,
		SmartHost: "relay:[127.0.0.13]", LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[string]string{}
	for _, r := range c.Deliver(ctx, newMsg("outside.example", rcpts...)) {
		got[r.Rcpt] = r.Stat
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stat texts (-sendmail +courier):\n%s\nsendmail -v:\n%s", d, out)
	}

	// The log's relay=, dsn= and stat= fields of every to= line, the
	// refused smart host's included.
	deadline := time.Now().Add(5 * time.Second)
	wantLog := map[string]string{}
	for len(wantLog) < 4 && time.Now().Before(deadline) {
		for _, l := range syslogLines() {
			if m := logTo.FindStringSubmatch(l); m != nil && m[1] != "sender@sender.example" {
				wantLog[m[1]] = m[2]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	gotLog := map[string]string{}
	for _, r := range c.Deliver(ctx, newMsg("outside.example", rcpts...)) {
		gotLog[r.Rcpt] = logFields(r)
	}
	down := *c
	down.SmartHost = "relay:[127.0.0.16]"
	for _, r := range down.Deliver(ctx, newMsg("outside.example", "later@outside.example")) {
		gotLog[r.Rcpt] = logFields(r)
	}
	if d := cmp.Diff(wantLog, gotLog); d != "" {
		t.Errorf("log fields (-sendmail +courier):\n%s\nsyslog:\n%s", d, strings.Join(syslogLines(), "\n"))
	}
}

// logTo picks a to= line's recipient and its fields from relay= on.
var logTo = regexp.MustCompile(`: to=<?([^,>]+)>?, .*?mailer=relay, pri=\d+, (.*)$`)

// logFields is what the queue runner will log for r, from relay= on:
// sendmail adds the far reply as reply= when the recipient was not sent.
func logFields(r Result) string {
	s := ""
	if r.Relay != "" {
		s = "relay=" + r.Relay + ", "
	}
	s += "dsn=" + r.DSN + ", "
	if !r.Sent() && r.Reply != "" {
		s += "reply=" + r.Reply + ", "
	}
	return s + "stat=" + r.Stat
}

// refuseDNS makes sure a test never reaches a real nameserver.
func refuseDNS(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, fmt.Errorf("no DNS in this test (asked %s)", addr)
}
