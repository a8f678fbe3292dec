// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
	"mailsuite/pkg/cf"
)

// smProbe is the Mlocal program given to the real sendmail: it records
// its argv and stdin per recipient ($u, the last argument) and exits with
// the code in code.<user>, if any.
const smProbe = `#!/bin/sh
for a in "$@"; do u="$a"; done
out=%[1]s/out.$u
: > "$out.argv"
for a in "$@"; do printf '[%%s]' "$a" >> "$out.argv"; done
cat > "$out.stdin"
code=0
[ -f %[1]s/code.$u ] && code=$(cat %[1]s/code.$u)
exit $code
`

type smRun struct {
	dir, script string
	mailer      *cf.Mailer
}

// setupSendmail prepares a work directory with the shared base.cf whose
// Mlocal runs the probe with the anchor's flags and argv, users b..g, and
// a private /etc (hosts, resolv.conf with a loopback resolver, passwd)
// (QueueLA and RefuseLA are raised: on a busy machine sendmail would
// only queue)
// and /root for the namespace.
func setupSendmail(t *testing.T) *smRun {
	testutil.RequireRoot(t, "the real sendmail runs in a private mount namespace")
	sendmail := testutil.Oracle(t, "sendmail", "sendmail-bin")
	testutil.Oracle(t, "unshare", "util-linux")
	base, err := os.ReadFile(filepath.Join(testutil.SharedTestdata(t, "mc"), "base.cf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o755)
	}
	write := func(name, s string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	probe := filepath.Join(dir, "probe")
	write("probe", fmt.Sprintf(smProbe, dir), 0o755)
	s := string(base)
	i, j := strings.Index(s, "Mlocal,"), strings.Index(s, "Mprog,")
	if i < 0 || j < i {
		t.Fatal("base.cf has no Mlocal line")
	}
	mline := "Mlocal,\t\tP=" + probe + ", F=" + anchorFlags + ", S=EnvFromL/HdrFromL, R=EnvToL/HdrToL,\n\t\tT=DNS/RFC822/X-Unix,\n\t\tA=procmail -t -Y -a $h -d $u\n"
	write("sendmail.cf", s[:i]+mline+s[j:], 0o644)
	parsed, perr := cf.Parse(strings.NewReader(mline), "mlocal.cf", cf.Options{})
	if perr != nil {
		t.Fatalf("cf.Parse: %v", perr)
	}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	var users strings.Builder
	for k, u := range []string{"b", "c", "d", "e", "g"} {
		fmt.Fprintf(&users, "%s:x:%d:%d:%s:/nonexistent:/bin/sh\n", u, 41024+k, 41024+k, u)
	}
	write("passwd", string(passwd)+users.String(), 0o644)
	write("hosts", "127.0.0.1 mail.hamap.local mail localhost hamap.local\n", 0o644)
	write("resolv.conf", "nameserver 127.0.0.1\n", 0o644)
	write("aliases", "postmaster: root\nmailer-daemon: postmaster\n", 0o644)
	for _, d := range []string{"mqueue", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`for f in resolv.conf hosts passwd; do mount --bind %[1]s/$f /etc/$f || exit 1; done
mount --bind %[1]s/root /root || exit 1
hostname mail.hamap.local || exit 1
S="%[2]s -C %[1]s/sendmail.cf -O QueueDirectory=%[1]s/mqueue -O AliasFile=%[1]s/aliases -O DontBlameSendmail=TrustStickyBit,GroupWritableDirPathSafe -O QueueLA=10000 -O RefuseLA=10000"
$S -bi >/dev/null || exit 1
`, dir, sendmail)
	return &smRun{dir: dir, script: script, mailer: parsed.Mailers["local"]}
}

// run runs cmds after the setup script; with mayFail, a non-zero exit
// of the last command is expected (failed recipients).
func (r *smRun) run(t *testing.T, cmds string, mayFail bool) string {
	t.Helper()
	cmd := exec.Command("unshare", "-m", "-u", "sh", "-c", r.script+cmds)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(mayFail && errors.As(err, &ee)) {
		t.Fatalf("sendmail: %v\n%s", err, out.String())
	}
	return out.String()
}

// bs runs one "sendmail -bs" session: each command after the previous
// reply (sendmail refuses commands sent before its greeting), then DATA
// with data (LF lines, dot-stuffed here) and QUIT.
func (r *smRun) bs(t *testing.T, cmds []string, data string) {
	t.Helper()
	cmd := exec.Command("unshare", "-m", "-u", "sh", "-c", r.script+"exec $S -bs -odi\n")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(outp)
	reply := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("sendmail -bs: %v: %s", err, stderr.String())
			}
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	send := func(c string) {
		fmt.Fprintf(in, "%s\r\n", c)
		if r := reply(); r[0] != '2' && r[0] != '3' {
			t.Fatalf("sendmail -bs: %q got %q", c, r)
		}
	}
	reply()
	for _, c := range append(cmds, "DATA") {
		send(c)
	}
	for _, l := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		if strings.HasPrefix(l, ".") {
			l = "." + l
		}
		fmt.Fprintf(in, "%s\r\n", l)
	}
	send(".")
	send("QUIT")
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sendmail -bs: %v: %s", err, stderr.String())
	}
}

var receivedID = regexp.MustCompile(` id ([0-9A-Za-z]{14})[;\n]`)

// TestSendmailLocalMailer submits messages from the command line to the
// real sendmail, whose Mlocal is a probe, and checks that Program.Argv
// and NewMessage give the argv and the bytes the probe received; only
// the queue id and the arrival time are taken from sendmail's output.
func TestSendmailLocalMailer(t *testing.T) {
	r := setupSendmail(t)
	msgs := map[string]string{
		"plain": "Subject: only subject\n\nbody\nFrom x\n",
		// Canonical addresses: rewriting header addresses is the
		// rulesets' job, not this package's.
		"headers": "Date: Fri, 27 Nov 2026 01:01:35 GMT\nFrom: a@mail.hamap.local\nTo: b@mail.hamap.local\nMessage-ID: <m@x>\n\nsent\n.\n",
		"to":      "To: b\nSubject: t\n\nx\n",
	}
	for name, m := range msgs {
		os.WriteFile(filepath.Join(r.dir, name+".msg"), []byte(m), 0o644)
	}
	seoul, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, tc := range []struct {
		name, args, msg string
		env             Envelope
		omitF           bool
		loc             *time.Location
	}{
		{"-bs EHLO", "-bs EHLO", "plain",
			Envelope{Sender: "root@mail.hamap.local", FullName: "root", Helo: "x", LocalUser: "root", Proto: "ESMTP", Recipients: []string{"<b@mail.hamap.local>"}}, false, time.UTC},
		{"-bs HELO", "-bs HELO", "plain",
			Envelope{Sender: "root@mail.hamap.local", FullName: "root", Helo: "x", LocalUser: "root", Proto: "SMTP", Recipients: []string{"<b@mail.hamap.local>"}}, false, time.UTC},
		{"-f root, one recipient", "-f root b", "plain",
			Envelope{Sender: "root", FullName: "root", LocalUser: "root", Recipients: []string{"b"}}, false, time.UTC},
		{"no -f", "b", "plain",
			Envelope{Sender: "root", FullName: "root", LocalUser: "root", Recipients: []string{"b"}}, true, time.UTC},
		{"two recipients, all headers", "-f root b c", "headers",
			Envelope{Sender: "root", FullName: "root", LocalUser: "root", Recipients: []string{"b", "c"}}, false, time.UTC},
		{"-t", "-t", "to",
			Envelope{Sender: "root", FullName: "root", LocalUser: "root", Recipients: []string{"b"}, HeaderRecipients: true}, true, time.UTC},
		{"time zone", "-O TimeZoneSpec=Asia/Seoul -f root b", "plain",
			Envelope{Sender: "root", FullName: "root", LocalUser: "root", Recipients: []string{"b"}}, false, seoul},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(r.dir, "out.b.stdin"))
			if verb, ok := strings.CutPrefix(tc.args, "-bs "); ok {
				r.bs(t, []string{verb + " x", "MAIL FROM:<root@mail.hamap.local>", "RCPT TO:<b@mail.hamap.local>"}, msgs[tc.msg])
			} else {
				r.run(t, fmt.Sprintf("$S -odi -i %s < %s/%s.msg\n", tc.args, r.dir, tc.msg), false)
			}
			theirs, err := os.ReadFile(filepath.Join(r.dir, "out.b.stdin"))
			if err != nil {
				t.Fatal(err)
			}
			argv, _ := os.ReadFile(filepath.Join(r.dir, "out.b.argv"))
			id := receivedID.FindSubmatch(theirs)
			if id == nil {
				t.Fatalf("no queue id in %q", theirs)
			}
			// The arrival second: the date that ends Received.
			d := regexp.MustCompile(`(?:; |\n\t)([A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d (?:GMT|[+-]\d{4}))\n`).FindSubmatch(theirs)
			if d == nil {
				t.Fatalf("no date in %q", theirs)
			}
			at, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", strings.Replace(string(d[1]), "GMT", "+0000", 1))
			if err != nil {
				t.Fatal(err)
			}
			e := tc.env
			e.QID, e.Hostname, e.Arrival = string(id[1]), "mail.hamap.local", at.In(tc.loc)
			// An added Date: is $a, taken at MAIL FROM, which may be a
			// second before the Received date.
			if dl := regexp.MustCompile(`(?m)^Date: (.*)$`).FindSubmatch(theirs); dl != nil && !strings.Contains(msgs[tc.msg], "Date:") {
				o, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", strings.Replace(string(dl[1]), "GMT", "+0000", 1))
				if err != nil {
					t.Fatal(err)
				}
				if d := at.Sub(o); d < 0 || d > 5*time.Second {
					t.Fatalf("Date %v is not just before Received %v", o, at)
				}
				e.Origin = o
			}
			msg, err := NewMessage(&e, r.mailer.Flags, strings.NewReader(msgs[tc.msg]))
			if err != nil {
				t.Fatal(err)
			}
			ours, _ := io.ReadAll(msg)
			if diff := cmp.Diff(string(theirs), string(ours)); diff != "" {
				t.Errorf("mailer stdin (-sendmail +ours):\n%s", diff)
			}
			p := &Program{Mailer: r.mailer, Sender: e.Sender, User: "b", OmitSenderFlag: tc.omitF}
			a := p.Argv()
			var want strings.Builder
			for _, s := range a[1:] {
				want.WriteString("[" + s + "]")
			}
			if string(argv) != want.String() {
				t.Errorf("argv %s, ours %s", argv, want.String())
			}
		})
	}
}

// TestSendmailExitStatuses lets the probe exit with sysexits codes for
// several recipients and compares what sendmail reports — the -v line of
// a deferral, the bounce's transcript and per-recipient DSN Status — with
// StatusFor and Status.Transcript.
func TestSendmailExitStatuses(t *testing.T) {
	r := setupSendmail(t)
	codes := map[string]int{"c": 75, "d": 69, "e": 1, "g": 67, "b": 73}
	for u, c := range codes {
		os.WriteFile(filepath.Join(r.dir, "code."+u), []byte(fmt.Sprint(c)), 0o644)
	}
	os.WriteFile(filepath.Join(r.dir, "m.msg"), []byte("Subject: s\n\nx\n"), 0o644)
	// -oem mails the errors back (to root) instead of printing them.
	out := r.run(t, fmt.Sprintf("$S -v -odi -oem -i -f root b c d e g < %s/m.msg\n", r.dir), true)
	probe := r.mailer.Path
	// The deferral is reported at once.
	st := StatusFor(75, "local mailer ("+probe+") exited with EX_TEMPFAIL")
	if want := st.Transcript("c") + "\n"; !strings.Contains(out, want) {
		t.Errorf("-v output lacks %q:\n%s", want, out)
	}
	bounce, err := os.ReadFile(filepath.Join(r.dir, "out.root.stdin"))
	if err != nil {
		t.Fatalf("no bounce delivered to root: %v\n%s", err, out)
	}
	if !bytes.Contains(bounce, []byte("\n"+st.Transcript("c")+"\n")) {
		t.Errorf("bounce transcript lacks the deferral of c:\n%s", bounce)
	}
	for _, u := range []string{"d", "e", "g", "b"} {
		st := StatusFor(codes[u], "")
		line := st.Transcript(u)
		if !bytes.Contains(bounce, []byte("\n"+line+"\n")) {
			t.Errorf("%s (exit %d): bounce transcript lacks %q:\n%s", u, codes[u], line, bounce)
		}
		block := regexp.MustCompile(`Final-Recipient: RFC822; ` + u + `@mail.hamap.local\n(?:.*\n)*?Status: (\S+)\n`).FindSubmatch(bounce)
		if block == nil {
			t.Errorf("%s: no DSN block in bounce:\n%s", u, bounce)
			continue
		}
		if string(block[1]) != st.Report {
			t.Errorf("%s (exit %d): DSN Status %s, ours %s", u, codes[u], block[1], st.Report)
		}
	}
}
