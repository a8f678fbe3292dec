// SPDX-License-Identifier: MIT

// Package mbox reads and writes mbox files the way Dovecot 2.3 keeps them
// on Debian, so that procmail, mail.local, sendmaild, real Dovecot and
// mailsuite can share one file.
//
// It parses From_ separators with Dovecot's grammar (lenient dates, no blank
// line needed before a separator, a From_ line directly after another one is
// message text), trusts Content-Length only where it lands on a separator or
// the end of the file, and serves message bytes verbatim (">From " lines are
// never unquoted, CR bytes are kept). Dovecot's private headers X-IMAPbase,
// X-IMAP, X-UID, Status, X-Status, X-Keywords and Content-Length carry the
// UIDVALIDITY, UIDs, flags and keywords; they are read and written the way
// Dovecot does (in place where the padding allows it) and are hidden from the
// visible message and its size.
//
// Writes happen under Debian's lock order (fcntl, then the <mbox>.lock
// dotlock); a rewrite that moves data first saves the old tail in a journal so
// that a failed or interrupted write is rolled back. A small index beside the
// mailbox (see Options.IndexPath) lets an unchanged mailbox reopen without a
// parse.
//
// The package does not speak IMAP or POP3, and it does not decide which
// session owns \Recent: it reports which messages are new since the last
// session took them and lets the caller hand them out.
package mbox
