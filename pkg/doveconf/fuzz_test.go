// SPDX-License-Identifier: MIT

package doveconf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the parser as dovecot.conf: it must
// never panic, must fail only with an *Error, and whatever it accepts must
// print (-n and -a) and read back to the same -n output.
func FuzzParse(f *testing.F) {
	for _, p := range []string{
		"testdata/debian/etc-dovecot/conf.d/10-master.conf",
		"testdata/debian/etc-dovecot/conf.d/10-mail.conf",
		"testdata/variants/named-sections/dovecot.conf",
		"testdata/variants/local-remote/dovecot.conf",
	} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("protocols = $protocols imap\nlogin_greeting = \"a # b\" # c\nimport_environment = A \\\n B\n"))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inc.conf"), []byte("ssl = no\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !safeIncludes(data) {
			t.Skip("include outside the fuzz directory")
		}
		path := filepath.Join(dir, "dovecot.conf")
		cfg, err := Parse(bytes.NewReader(data), path, Options{})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
		if cfg == nil {
			return
		}
		var n, a bytes.Buffer
		if err := cfg.Dump(&n, false); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Dump(&a, true); err != nil {
			t.Fatal(err)
		}
		_ = cfg.Settings(Match{Protocol: "imap"})
		if err != nil || strings.Contains(n.String(), "hidden") || strings.ContainsAny(n.String(), "\r\x00") {
			return
		}
		// doveconf -n output is itself a configuration; read back it
		// may be normalized once (protocols = " imap" loses its blank,
		// as in Dovecot), after which it is stable.
		n2, ok := reparse(t, n.Bytes(), path)
		if !ok {
			return
		}
		n3, ok := reparse(t, n2, path)
		if !ok || !bytes.Equal(n2, n3) {
			t.Fatalf("-n output is not stable when read back:\n%s\n---\n%s", n2, n3)
		}
	})
}

func reparse(t *testing.T, conf []byte, path string) ([]byte, bool) {
	cfg, err := Parse(bytes.NewReader(conf), path, Options{})
	if err != nil {
		return nil, false
	}
	var out bytes.Buffer
	if err := cfg.Dump(&out, false); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), true
}

// safeIncludes keeps fuzzed includes inside the fuzz directory: a glob like
// "/*/*/*" would otherwise walk the whole file system.
func safeIncludes(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		_, rest, ok := strings.Cut(line, "!include")
		if ok && strings.ContainsAny(rest, "/\\~{[") {
			return false
		}
	}
	return true
}
