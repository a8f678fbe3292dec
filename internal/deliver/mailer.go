// SPDX-License-Identifier: MIT

package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"mailsuite/pkg/cf"
)

// Program is one run of a local mailer program (the cf's Mlocal line) for
// one recipient, as Sendmail's deliver() sets it up.
type Program struct {
	// Mailer is the M line: P= is the program, A= its argv, F= its flags
	// (f adds "-f <sender>", r adds "-r <sender>" after argv[0]).
	Mailer *cf.Mailer
	// Sender is the envelope sender for -f/-r and $f/$g.
	Sender string
	// OmitSenderFlag leaves out "-f <sender>" (or -r) although the
	// mailer has the flag: Sendmail passes it only when the sender was
	// given explicitly (SMTP MAIL FROM, sendmail -f/-r), not for a plain
	// command-line submission, where procmail then uses the caller's
	// name.
	OmitSenderFlag bool
	// User and Host are $u and $h.
	User, Host string
	// Macros holds other macros A= may use, by name without "$"/"{}",
	// e.g. "client_addr". Unknown macros expand to nothing.
	Macros map[string]string
	// Dir is the working directory (Sendmail uses the queue directory);
	// empty means the current one.
	Dir string
	// Env is the environment; nil means Sendmail's: AGENT=sendmail only.
	Env []string
	// SysProcAttr, when set, is given to the child (credentials of the
	// recipient when running as root).
	SysProcAttr *syscall.SysProcAttr
	// Home is $z, the home directory of the user a program runs as, for
	// the mailer's D= directories.
	Home string
}

// workDir is where the program starts: Dir, or for a program given
// other credentials, the first of the mailer's D= directories ($z is
// Home) that user can enter, as openmailer's chdir loop does, else "/".
func (p *Program) workDir() string {
	if p.SysProcAttr == nil || p.SysProcAttr.Credential == nil {
		return p.Dir
	}
	c := p.SysProcAttr.Credential
	for _, d := range p.Mailer.Dirs {
		d = strings.ReplaceAll(d, "$z", p.Home)
		if d != "" && searchable(d, c) {
			return d
		}
	}
	if p.Dir != "" && searchable(p.Dir, c) {
		return p.Dir
	}
	return "/"
}

// searchable reports whether the user of c may enter directory d.
func searchable(d string, c *syscall.Credential) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(d, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return false
	}
	switch {
	case c.Uid == 0:
		return true
	case st.Uid == c.Uid:
		return st.Mode&0o100 != 0
	case st.Gid == c.Gid || slices.Contains(c.Groups, st.Gid):
		return st.Mode&0o010 != 0
	}
	return st.Mode&0o001 != 0
}

// UseBuiltIn reports whether local delivery should use the built-in agent
// (Spool) instead of running the mailer: when P= names mail.local, or
// when the program does not exist.
func UseBuiltIn(m *cf.Mailer) bool {
	if m == nil || m.Path == "" {
		return true
	}
	if m.Path == "[IPC]" {
		return false // an LMTP or SMTP "local" mailer: not ours to replace
	}
	if filepath.Base(m.Path) == "mail.local" {
		return true
	}
	fi, err := os.Stat(m.Path)
	return err != nil || fi.IsDir()
}

// Argv returns the mailer's argument vector with its macros expanded,
// as Sendmail passes it: argv[0] from A=, then "-f <sender>" (flag f)
// or "-r <sender>" (flag r), then the rest of A=. A macro expanding to
// nothing leaves an empty argument.
func (p *Program) Argv() []string {
	a := p.Mailer.Argv
	if len(a) == 0 {
		return nil
	}
	out := []string{p.expand(a[0])}
	if p.OmitSenderFlag {
		// no -f/-r
	} else if p.Mailer.HasFlag('f') {
		out = append(out, "-f", p.Sender)
	} else if p.Mailer.HasFlag('r') {
		out = append(out, "-r", p.Sender)
	}
	for _, s := range a[1:] {
		out = append(out, p.expand(s))
	}
	return out
}

func (p *Program) macro(name string) string {
	switch name {
	case "u":
		return p.User
	case "h":
		return p.Host
	case "f", "g":
		return p.Sender
	}
	return p.Macros[name]
}

// expand replaces $x and ${name} in s.
func (p *Program) expand(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch n := s[i]; {
		case n == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				b.WriteString(s[i-1:])
				return b.String()
			}
			b.WriteString(p.macro(s[i+1 : i+j]))
			i += j
		case n == '$':
			b.WriteByte('$')
		default:
			b.WriteString(p.macro(string(n)))
		}
	}
	return b.String()
}

// maxStderr bounds the program output kept for the log and the bounce.
const maxStderr = 4096

// Run runs the program with msg on its standard input and maps its exit
// status as Sendmail does: 0 is Sent, 75 (EX_TEMPFAIL) "Deferred: local
// mailer (<P=>) exited with EX_TEMPFAIL", other sysexits codes their
// table text ("Service unavailable"), any other code "unknown mailer error
// N"; death by a signal or a failure to start is a temporary failure.
// Output on stdout and stderr is kept (bounded) in Status.Detail.
func (p *Program) Run(ctx context.Context, msg io.Reader) Status {
	argv := p.Argv()
	if len(argv) == 0 {
		st := StatusFor(ExConfig, "")
		st.Detail = "mailer " + p.Mailer.Name + " has no A= arguments"
		return st
	}
	cmd := exec.CommandContext(ctx, p.Mailer.Path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Dir = p.workDir()
	cmd.Env = p.Env
	if cmd.Env == nil {
		cmd.Env = []string{"AGENT=sendmail"}
	}
	cmd.SysProcAttr = p.SysProcAttr
	cmd.Stdin = msg
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	detail := strings.TrimSpace(out.String())
	var st Status
	var ee *exec.ExitError
	switch {
	case err == nil:
		st = StatusFor(ExOK, "")
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// Sendmail: "451 4.3.0 mailer local died with signal 9".
			why := fmt.Sprintf("mailer %s died with signal %d", p.Mailer.Name, ws.Signal())
			st = StatusFor(ExTempFail, why)
			detail = strings.TrimSpace(why + "\n" + detail)
		} else if code := ee.ExitCode(); code == ExTempFail {
			st = StatusFor(code, fmt.Sprintf("%s mailer (%s) exited with EX_TEMPFAIL", p.Mailer.Name, p.Mailer.Path))
		} else {
			st = StatusFor(code, "")
		}
	case ctx.Err() != nil:
		st = StatusFor(ExTempFail, ctx.Err().Error())
	default:
		// The program could not be started.
		st = StatusFor(ExTempFail, err.Error())
	}
	st.Detail = detail
	return st
}

type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxStderr - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
