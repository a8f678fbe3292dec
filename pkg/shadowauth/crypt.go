// SPDX-License-Identifier: MIT

package shadowauth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/md5_crypt"    // $1$
	_ "github.com/GehirnInc/crypt/sha256_crypt" // $5$
	_ "github.com/GehirnInc/crypt/sha512_crypt" // $6$
	"github.com/openwall/yescrypt-go"
	"golang.org/x/crypto/bcrypt"
)

// ErrMismatch is returned when a password does not match its hash.
var ErrMismatch = errors.New("password mismatch")

// ErrLocked is returned for a locked or disabled hash ("!", "*", "!…")
// and for an empty one: mailsuite never lets a user in without a
// password.
var ErrLocked = errors.New("account locked or without password")

// ErrScheme is wrapped by errors for hashes of a scheme this package
// cannot verify.
var ErrScheme = errors.New("unsupported password scheme")

// VerifyCrypt checks password against a crypt(3) hash as found in
// /etc/shadow. It returns nil on a match, ErrMismatch, ErrLocked, or an
// error wrapping ErrScheme. The comparison takes constant time in the
// hash length.
func VerifyCrypt(hash, password string) (err error) {
	if hash == "" || hash[0] == '!' || hash[0] == '*' {
		return ErrLocked
	}
	// GehirnInc/crypt panics on inputs it does not expect; a bad hash in
	// a user file must not take a daemon down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: malformed %s hash", ErrScheme, schemeName(hash))
		}
	}()
	var got []byte
	switch {
	case strings.HasPrefix(hash, "$1$"), strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		if !crypt.IsHashSupported(hash) {
			return fmt.Errorf("%w: %s", ErrScheme, schemeName(hash))
		}
		// GehirnInc/crypt takes the salt from the setting alone (given the
		// whole hash it misreads a "rounds=" salt), and may leave out a
		// "rounds=5000" that libc keeps: compare the digests only.
		i := strings.LastIndexByte(hash, '$')
		if i < 3 {
			return fmt.Errorf("%w: malformed %s hash", ErrScheme, schemeName(hash))
		}
		s, err := crypt.NewFromHash(hash).Generate([]byte(password), []byte(hash[:i]))
		if err != nil {
			return fmt.Errorf("%w: malformed %s hash: %v", ErrScheme, schemeName(hash), err)
		}
		got, hash = []byte(digest(s)), digest(hash)
	case strings.HasPrefix(hash, "$y$"):
		// The setting is everything up to the last '$'.
		i := strings.LastIndexByte(hash, '$')
		h, err := yescrypt.Hash([]byte(password), []byte(hash[:i+1]))
		if err != nil {
			return fmt.Errorf("%w: malformed yescrypt hash: %v", ErrScheme, err)
		}
		got = h
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		switch err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); {
		case err == nil:
			return nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return ErrMismatch
		default:
			return fmt.Errorf("%w: malformed bcrypt hash: %v", ErrScheme, err)
		}
	default:
		return fmt.Errorf("%w: %s", ErrScheme, schemeName(hash))
	}
	if subtle.ConstantTimeCompare(got, []byte(hash)) != 1 {
		return ErrMismatch
	}
	return nil
}

// digest returns the part of a crypt hash after its last '$'.
func digest(h string) string { return h[strings.LastIndexByte(h, '$')+1:] }

// schemeName names a crypt hash's scheme for messages, without ever
// including the hash itself.
func schemeName(hash string) string {
	if strings.HasPrefix(hash, "$") {
		if i := strings.IndexByte(hash[1:], '$'); i >= 0 {
			return hash[:i+2]
		}
	}
	if len(hash) == 13 {
		return "DES"
	}
	return "unknown"
}
