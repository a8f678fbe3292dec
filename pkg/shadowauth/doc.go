// SPDX-License-Identifier: MIT

// Package shadowauth looks up system users in passwd and shadow files and
// Dovecot passwd-files, and verifies passwords against their hashes.
//
// It understands the crypt(3) schemes a Debian or Rocky /etc/shadow holds
// ($1$ MD5, $5$ SHA-256, $6$ SHA-512, $y$ yescrypt, $2a$/$2b$/$2y$
// bcrypt) and Dovecot's {SCHEME}-prefixed passwords (PLAIN, CRYPT,
// SHA512-CRYPT, SSHA512, PLAIN-MD5, …). Locked accounts ("!" or "*"
// hashes), empty hashes and expired accounts are refused. Traditional DES
// crypt is not supported: no maintained Go library serves it, and no
// current system writes it.
//
// Which files are read is decided once, by the environment variables
// MAILSUITE_PASSWD and MAILSUITE_SHADOW (default /etc/passwd and
// /etc/shadow). Every mailsuite program honours them, so tests and
// "make demo" run with users of their own and no real accounts.
//
// The package does no logging and holds no global state. It does not
// drop or change privileges: reading /etc/shadow needs a process that
// may, which the daemons arrange.
package shadowauth
