// SPDX-License-Identifier: MIT

package deliver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/pkg/cf"
)

// writeProbe writes a P= program that records its argv, cwd, environment
// and stdin, then exits with the code in its first file argument.
func writeProbe(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "probe")
	script := `#!/bin/sh
out=` + dir + `/out
: > "$out.argv"
for a in "$0" "$@"; do printf '[%s]' "$a" >> "$out.argv"; done
pwd > "$out.cwd"
env | sort > "$out.env"
cat > "$out.stdin"
echo "probe says hi" >&2
exit $(cat ` + dir + `/code)
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProgramMailer(t *testing.T) {
	dir := t.TempDir()
	probe := writeProbe(t, dir)
	// The anchor's Mlocal: argv procmail -f a@hamap.local -t -Y -a '' -d b.
	m := &cf.Mailer{Name: "local", Path: probe, Flags: anchorFlags, Argv: []string{"procmail", "-t", "-Y", "-a", "$h", "-d", "$u"}}
	debian := &cf.Mailer{Name: "local", Path: probe, Flags: "lsDFMAw5:/|@qPn9S", Argv: []string{"sensible-mda", "$g", "$u", "$h", "${client_addr}"}}
	for _, tc := range []struct {
		name     string
		mailer   *cf.Mailer
		code     string
		wantArgv string
		want     Status
	}{
		{"anchor sent", m, "0", "[procmail][-f][a@hamap.local][-t][-Y][-a][][-d][b]", Status{Code: 0, DSN: "2.0.0", Stat: "Sent", Reply: "250"}},
		{"tempfail", m, "75", "", Status{Code: 75, DSN: "4.0.0", Stat: "Deferred: local mailer (" + probe + ") exited with EX_TEMPFAIL", Reply: "450", Report: "4.2.0"}},
		{"unavailable", m, "69", "", Status{Code: 69, DSN: "5.0.0", Stat: "Service unavailable", Reply: "554", Report: "5.5.0"}},
		{"no user", m, "67", "", Status{Code: 67, DSN: "5.1.1", Stat: "User unknown", Reply: "550", Report: "5.1.1"}},
		{"cantcreat", m, "73", "", Status{Code: 73, DSN: "5.0.0", Stat: "Can't create output", Reply: "550", Report: "5.3.0"}},
		{"unknown code", m, "1", "", Status{Code: 1, DSN: "5.3.0", Stat: "unknown mailer error 1", Reply: "554", Report: "5.0.0"}},
		{"no -f for a plain command-line submission", &cf.Mailer{Name: "local", Path: probe, Flags: anchorFlags, Argv: m.Argv}, "0", "[procmail][-t][-Y][-a][][-d][b]", Status{Code: 0, DSN: "2.0.0", Stat: "Sent", Reply: "250"}},
		{"debian sensible-mda", debian, "0", "[sensible-mda][a@hamap.local][b][][127.0.0.20]", Status{Code: 0, DSN: "2.0.0", Stat: "Sent", Reply: "250"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "code"), []byte(tc.code), 0o644); err != nil {
				t.Fatal(err)
			}
			p := &Program{Mailer: tc.mailer, Sender: "a@hamap.local", User: "b", Dir: dir,
				Macros: map[string]string{"client_addr": "127.0.0.20"}, OmitSenderFlag: strings.HasPrefix(tc.name, "no -f")}
			st := p.Run(context.Background(), strings.NewReader("Subject: x\n\nbody\n"))
			if st.Detail != "probe says hi" {
				t.Errorf("detail %q", st.Detail)
			}
			st.Detail = ""
			if d := cmp.Diff(tc.want, st); d != "" {
				t.Error(d)
			}
			if tc.wantArgv != "" {
				argv, _ := os.ReadFile(filepath.Join(dir, "out.argv"))
				// $0 of a script is its path; argv[0] is checked via Argv.
				if got := "[" + p.Argv()[0] + "]" + string(argv)[strings.Index(string(argv), "]")+1:]; got != tc.wantArgv {
					t.Errorf("argv %s, want %s", got, tc.wantArgv)
				}
			}
			in, _ := os.ReadFile(filepath.Join(dir, "out.stdin"))
			if string(in) != "Subject: x\n\nbody\n" {
				t.Errorf("stdin %q", in)
			}
			env, _ := os.ReadFile(filepath.Join(dir, "out.env"))
			if !strings.Contains(string(env), "AGENT=sendmail\n") {
				t.Errorf("environment lacks AGENT=sendmail: %q", env)
			}
			cwd, _ := os.ReadFile(filepath.Join(dir, "out.cwd"))
			if strings.TrimSpace(string(cwd)) != dir {
				t.Errorf("cwd %q", cwd)
			}
		})
	}
}

func TestProgramSignal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "killer")
	os.WriteFile(p, []byte("#!/bin/sh\nkill -9 $$\n"), 0o755)
	st := (&Program{Mailer: &cf.Mailer{Name: "local", Path: p, Argv: []string{"killer"}}}).Run(context.Background(), strings.NewReader(""))
	if !st.Temporary() || !strings.Contains(st.Stat, "died with signal 9") {
		t.Errorf("%+v", st)
	}
}

func TestUseBuiltIn(t *testing.T) {
	for _, tc := range []struct {
		m    *cf.Mailer
		want bool
	}{
		{nil, true},
		{&cf.Mailer{Path: "/usr/libexec/mail.local"}, true},
		{&cf.Mailer{Path: "/nonexistent/procmail"}, true},
		{&cf.Mailer{Path: "/bin/sh"}, false},
		{&cf.Mailer{Path: "[IPC]"}, false},
	} {
		name := "nil"
		if tc.m != nil {
			name = tc.m.Path
		}
		t.Run(name, func(t *testing.T) {
			if got := UseBuiltIn(tc.m); got != tc.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	p := &Program{Sender: "s@x", User: "u", Host: "h", Macros: map[string]string{"client_addr": "1.2.3.4", "x": "X"}}
	for in, want := range map[string]string{"$u": "u", "-d$u": "-du", "${client_addr}": "1.2.3.4", "$$": "$", "$x$h": "Xh", "$": "$", "${open": "${open", "$z": ""} {
		if got := p.expand(in); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}
