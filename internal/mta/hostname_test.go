// SPDX-License-Identifier: MIT

package mta

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/cf"
)

// TestHostnameWithoutDj checks $j for a cf without a usable Dj line (what
// m4 writes without confDOMAIN_NAME: "#Dj$w.Foo.COM"): the host's own name,
// as the daemon takes it, so that a "sendmail -t" submission never gets a
// "Received: ... by  (" header or a "Message-Id: <...@>".
func TestHostnameWithoutDj(t *testing.T) {
	want, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	q := filepath.Join(dir, "mqueue")
	if err := os.Mkdir(q, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		"#Dj$w.Foo.COM\nO QueueDirectory=" + q + "\n",
		"Dj$w.Foo.COM\nO QueueDirectory=" + q + "\n",
	} {
		c, err := cf.Parse(strings.NewReader(text), "test.cf", cf.Options{NoClassFiles: true, NoUserLookup: true})
		if c == nil {
			t.Fatal(err)
		}
		m, err := New(Options{CF: c, Log: maillog.New(&strings.Builder{}, maillog.Options{Ident: "sendmail"})})
		if err != nil {
			t.Fatal(err)
		}
		if m.hostname != want {
			t.Errorf("cf %q: $j = %q, want the host name %q", strings.SplitN(text, "\n", 2)[0], m.hostname, want)
		}
		if !m.IsLocal(want) {
			t.Errorf("the host's own name is not local")
		}
		m.Close()
	}
}
