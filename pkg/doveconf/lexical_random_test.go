// SPDX-License-Identifier: MIT

package doveconf

import (
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"mailsuite/internal/testutil"
)

var lexTokens = []string{
	"login_greeting", "mail_plugins", "protocols", "ssl", "namespace", "plugin", "protocol", "imap", "inbox",
	"service", "inet_listener", "port", "!include", "!include_try", "inc.conf", "*.conf", "x", "passdb",
	"=", "=", "=", " ", " ", "\t", "{", "}", "#", " #", "\"", "'", "\\", "\\\"", "$", "$login_greeting",
	"$mail_plugins", "$protocols", "<", "<x", "a b", "yes", "no", "10", "\"q\"", "'s'", "mailbox", "\"Sent Messages\"",
}

func lexConfig(r *rand.Rand) string {
	var b strings.Builder
	for n := 1 + r.Intn(8); n > 0; n-- {
		for k := r.Intn(6); k >= 0; k-- {
			b.WriteString(lexTokens[r.Intn(len(lexTokens))])
		}
		if r.Intn(10) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	if r.Intn(5) == 0 {
		return strings.TrimSuffix(b.String(), "\n")
	}
	return b.String()
}

// TestLexicalRandomAgainstDoveconf throws token soup at the real doveconf
// and at this package and wants the same output and messages, including
// the Unknown setting and Expecting '{' cases; MAILSUITE_DOVECONF_LEX sets
// how many (default 60), MAILSUITE_DOVECONF_SEED another seed.
func TestLexicalRandomAgainstDoveconf(t *testing.T) {
	bin := testutil.Oracle(t, "doveconf", "dovecot-core")
	count := 60
	if v, err := strconv.Atoi(os.Getenv("MAILSUITE_DOVECONF_LEX")); err == nil {
		count = v
	}
	seed := int64(11)
	if v, err := strconv.ParseInt(os.Getenv("MAILSUITE_DOVECONF_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewSource(seed))
	for i := 0; i < count; i++ {
		conf := lexConfig(r)
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "dovecot.conf")
			files := map[string]string{"dovecot.conf": conf, "inc.conf": "login_greeting = included\n", "x": "content of x\n"}
			for name, body := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(runReal(t, bin, path, false), runOurs(path, false)); diff != "" {
				t.Fatalf("config %q\n(-doveconf +ours):\n%s", conf, diff)
			}
		})
	}
}
