// SPDX-License-Identifier: MIT

package shadowauth

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"mailsuite/internal/testutil"
)

// libcCrypt hashes password with the system's crypt(3) (libxcrypt on
// Debian: the library that wrote /etc/shadow) through python3.
func libcCrypt(t *testing.T, password, setting string) string {
	t.Helper()
	py := testutil.Oracle(t, "python3", "python3")
	out, err := exec.Command(py, "-W", "ignore", "-c",
		"import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) or '')", password, setting).Output()
	if err != nil {
		t.Skipf("python3 crypt module unavailable: %v", err)
	}
	h := strings.TrimSpace(string(out))
	if h == "" || h[0] == '*' {
		t.Fatalf("crypt(3) refused setting %q", setting)
	}
	return h
}

func TestVerifyCryptAgainstLibc(t *testing.T) {
	settings := []struct{ name, setting string }{
		{"md5", "$1$saltsalt$"},
		{"sha256", "$5$saltsaltsaltsalt$"},
		{"sha256-rounds", "$5$rounds=12345$saltsalt$"},
		{"sha512", "$6$saltsaltsaltsalt$"},
		{"sha512-rounds", "$6$rounds=5000$abc$"},
		{"yescrypt", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$"},
		{"yescrypt-debian", "$y$j9T$AAt9R641xPvCI9nXw1HHW/"},
		{"bcrypt-2b", "$2b$05$abcdefghijklmnopqrstuu"},
		{"bcrypt-2y", "$2y$05$abcdefghijklmnopqrstuu"},
	}
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			for _, pw := range []string{"secret1", "pässwörd" + strings.Repeat("x", 70)} {
				h := libcCrypt(t, pw, s.setting)
				if err := VerifyCrypt(h, pw); err != nil {
					t.Errorf("VerifyCrypt(%q, %q) = %v, want match", h, pw, err)
				}
				if err := VerifyCrypt(h, "x"+pw); !errors.Is(err, ErrMismatch) {
					t.Errorf("VerifyCrypt(%q, wrong) = %v, want ErrMismatch", h, err)
				}
			}
		})
	}
}

func TestVerifyCryptOpenSSL(t *testing.T) {
	openssl := testutil.Oracle(t, "openssl", "openssl")
	for _, alg := range []string{"-1", "-5", "-6"} {
		out, err := exec.Command(openssl, "passwd", alg, "secret1").Output()
		if err != nil {
			t.Fatal(err)
		}
		h := strings.TrimSpace(string(out))
		if err := VerifyCrypt(h, "secret1"); err != nil {
			t.Errorf("openssl passwd %s: %q: %v", alg, h, err)
		}
		if err := VerifyCrypt(h, "secret2"); !errors.Is(err, ErrMismatch) {
			t.Errorf("openssl passwd %s: wrong password gave %v", alg, err)
		}
	}
}

func TestVerifyCryptRefusals(t *testing.T) {
	tests := []struct {
		name, hash string
		want       error
	}{
		{"empty", "", ErrLocked},
		{"locked", "!$6$abc$def", ErrLocked},
		{"disabled", "*", ErrLocked},
		{"bang", "!", ErrLocked},
		{"des", "EradRBDdPxnwU", ErrScheme},
		{"unknown", "$9$abc$def", ErrScheme},
		{"truncated-sha512", "$6$", ErrScheme},
		{"garbage-bcrypt", "$2b$99$x", ErrScheme},
		{"garbage-yescrypt", "$y$$$", ErrScheme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyCrypt(tt.hash, "secret1")
			if !errors.Is(err, tt.want) {
				t.Errorf("VerifyCrypt(%q) = %v, want %v", tt.hash, err, tt.want)
			}
		})
	}
}

// TestVerifySchemeAgainstDoveadm feeds every scheme that real Dovecot's
// "doveadm pw" generates through VerifyScheme.
func TestVerifySchemeAgainstDoveadm(t *testing.T) {
	doveadm := testutil.Oracle(t, "doveadm", "dovecot-core")
	schemes := []string{"PLAIN", "CLEAR", "CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT",
		"BLF-CRYPT", "MD5", "SHA", "SHA1", "SHA256", "SHA512", "SSHA", "SSHA256", "SSHA512",
		"SMD5", "PLAIN-MD5", "LDAP-MD5", "SHA256.HEX", "SSHA512.HEX", "PLAIN-MD5.B64"}
	for _, s := range schemes {
		t.Run(s, func(t *testing.T) {
			out, err := exec.Command(doveadm, "-c", "/dev/null", "pw", "-s", s, "-p", "secret1").Output()
			if err != nil {
				t.Fatalf("doveadm pw -s %s: %v", s, err)
			}
			stored := strings.TrimSpace(string(out))
			if err := VerifyScheme(stored, "secret1", ""); err != nil {
				t.Errorf("VerifyScheme(%q) = %v", stored, err)
			}
			if err := VerifyScheme(stored, "secret2", ""); !errors.Is(err, ErrMismatch) {
				t.Errorf("VerifyScheme(%q, wrong) = %v, want ErrMismatch", stored, err)
			}
			// Without its prefix, under the passdb's scheme= default.
			if i := strings.IndexByte(stored, '}'); i > 0 {
				if err := VerifyScheme(stored[i+1:], "secret1", stored[1:i]); err != nil {
					t.Errorf("VerifyScheme(%q, scheme=%s) = %v", stored[i+1:], stored[1:i], err)
				}
			}
		})
	}
}

func TestVerifySchemeDefaults(t *testing.T) {
	// A bare cleartext password under the default scheme CRYPT fails
	// (dovecot-config.md §8).
	if err := VerifyScheme("secret1", "secret1", ""); err == nil {
		t.Error("bare cleartext accepted under scheme CRYPT")
	}
	if err := VerifyScheme("secret1", "secret1", "PLAIN"); err != nil {
		t.Errorf("scheme=PLAIN: %v", err)
	}
	if err := VerifyScheme("{plain}secret1", "secret1", ""); err != nil {
		t.Errorf("lower-case scheme name: %v", err)
	}
	if err := VerifyScheme("{NOSUCH}x", "x", ""); !errors.Is(err, ErrScheme) {
		t.Errorf("unknown scheme: %v", err)
	}
	if err := VerifyScheme("{PLAIN}", "", ""); !errors.Is(err, ErrLocked) {
		t.Errorf("empty PLAIN password: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	for _, s := range []string{"$6$abc$def", "$y$j9T$AAt9R641xPvCI9nXw1HHW/$x", "$2b$05$x", "{SSHA512}AAAA", "{PLAIN}x", "$1$", "$5$rounds=1$$", "{SHA256.HEX}zz"} {
		f.Add(s, "secret1")
	}
	f.Fuzz(func(t *testing.T, stored, pw string) {
		// Keep the cost parameters of fuzzed hashes from making one
		// input run for minutes: bcrypt and yescrypt settings are
		// taken as given, so only short ones are tried.
		if len(stored) > 200 || strings.HasPrefix(stored, "$2") || strings.HasPrefix(stored, "$y$") || strings.Contains(stored, "rounds=") {
			return
		}
		VerifyScheme(stored, pw, "")
		VerifyCrypt(stored, pw)
	})
}
