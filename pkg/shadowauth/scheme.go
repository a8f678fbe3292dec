// SPDX-License-Identifier: MIT

package shadowauth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// VerifyScheme checks password against a password as Dovecot stores it in
// a passwd-file or a passdb: an optional "{SCHEME}" prefix, else
// defaultScheme (Dovecot's default_pass_scheme; "CRYPT" when empty).
// Scheme names are case-insensitive. Schemes: PLAIN, CLEAR, CLEARTEXT,
// PLAIN-TRUNC is not supported; CRYPT, MD5, MD5-CRYPT, SHA256-CRYPT,
// SHA512-CRYPT, BLF-CRYPT (all crypt(3) forms); SHA, SHA1, SHA256,
// SHA512, SSHA, SSHA256, SSHA512, SMD5, PLAIN-MD5, LDAP-MD5 (base64 or
// hex, as Dovecot accepts either, or the ".b64"/".hex" suffixed names).
func VerifyScheme(stored, password, defaultScheme string) error {
	scheme := defaultScheme
	if scheme == "" {
		scheme = "CRYPT"
	}
	if strings.HasPrefix(stored, "{") {
		if i := strings.IndexByte(stored, '}'); i > 0 {
			scheme, stored = stored[1:i], stored[i+1:]
		}
	}
	scheme = strings.ToUpper(scheme)
	enc := ""
	if i := strings.LastIndexByte(scheme, '.'); i > 0 {
		scheme, enc = scheme[:i], scheme[i+1:]
	}
	switch scheme {
	case "PLAIN", "CLEAR", "CLEARTEXT":
		if stored == "" {
			return ErrLocked
		}
		if subtle.ConstantTimeCompare([]byte(stored), []byte(password)) != 1 {
			return ErrMismatch
		}
		return nil
	case "CRYPT", "MD5", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT", "DES-CRYPT":
		return VerifyCrypt(stored, password)
	case "SHA", "SHA1":
		return verifyDigest(stored, password, enc, sha1.New, false)
	case "SHA256":
		return verifyDigest(stored, password, enc, sha256.New, false)
	case "SHA512":
		return verifyDigest(stored, password, enc, sha512.New, false)
	case "SSHA":
		return verifyDigest(stored, password, enc, sha1.New, true)
	case "SSHA256":
		return verifyDigest(stored, password, enc, sha256.New, true)
	case "SSHA512":
		return verifyDigest(stored, password, enc, sha512.New, true)
	case "SMD5":
		return verifyDigest(stored, password, enc, md5.New, true)
	case "PLAIN-MD5", "LDAP-MD5":
		return verifyDigest(stored, password, enc, md5.New, false)
	}
	return fmt.Errorf("%w: {%s}", ErrScheme, scheme)
}

// verifyDigest checks an unsalted digest, or a salted one (the salt
// follows the digest in the decoded bytes), encoded in base64 or hex.
// Without an explicit encoding, Dovecot tells them apart by length.
func verifyDigest(stored, password, enc string, newHash func() hash.Hash, salted bool) error {
	if stored == "" {
		return ErrLocked
	}
	size := newHash().Size()
	var raw []byte
	var err error
	switch {
	case enc == "HEX" || (enc == "" && len(stored) == hex.EncodedLen(size) && isHex(stored)):
		raw, err = hex.DecodeString(stored)
	default:
		raw, err = base64.StdEncoding.DecodeString(stored)
	}
	if err != nil || len(raw) < size || (!salted && len(raw) != size) {
		return fmt.Errorf("%w: malformed digest", ErrScheme)
	}
	h := newHash()
	h.Write([]byte(password))
	if salted {
		h.Write(raw[size:])
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), raw[:size]) != 1 {
		return ErrMismatch
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
