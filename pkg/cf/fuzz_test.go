// SPDX-License-Identifier: MIT

package cf

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the cf reader: it must not panic,
// every error must be an *Error naming a line of the input, and the
// typed settings must keep their invariants.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"V10/Berkeley\nDjmx.example\nCw localhost\n",
		"O DaemonPortOptions=Family=inet,  Name=MTA-v4, Port=smtp, Addr=127.0.0.1\nO Timeout.queuewarn=4h\n",
		"Kaccess hash -T<TMPF> -o /etc/mail/access.db\n",
		"Mlocal, P=/usr/bin/procmail, F=lsDFM,\n\tA=procmail -d $u\n",
		"Scanonify=3\nR$@\t$@ <@>\n",
		"H?D?Date: $a\nH?${x}?X: y\n",
		"C{x\nO Tim=1\nM\nS200\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse(strings.NewReader(src), "f.cf", Options{NoClassFiles: true, NoUserLookup: true})
		if c == nil {
			return // scanner error (a line over the buffer limit)
		}
		lines := strings.Count(src, "\n") + 1
		for _, e := range unjoin(err) {
			var ce *Error
			if !errors.As(e, &ce) || ce.File != "f.cf" || ce.Line < 1 || ce.Line > lines {
				t.Fatalf("bad error %v (lines %d)", e, lines)
			}
		}
		if len(c.DaemonPortOptions) == 0 {
			t.Fatal("no daemon")
		}
		for _, d := range c.DaemonPortOptions {
			if d.Name == "" || d.Family == "" {
				t.Fatalf("daemon without name or family: %+v", d)
			}
		}
		for _, name := range c.MapOrder {
			if c.Maps[name] == nil {
				t.Fatalf("map %q listed but missing", name)
			}
		}
		for _, name := range c.MailerOrder {
			m := c.Mailers[name]
			if m == nil || m.Path == "" || len(m.Argv) == 0 {
				t.Fatalf("mailer %q incomplete: %+v", name, m)
			}
		}
	})
}
