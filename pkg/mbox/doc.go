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
// Using it: Open (or Folders.Open) reads the state; Messages, Message and
// Reader serve sequence numbers, UIDs, flags, keywords, sizes, INTERNALDATEs
// and streamed bodies; SetFlags records flag changes, written lazily like
// Dovecot's at Flush (CHECK), Expunge or Close; Append saves a message at
// once; Sync picks up what other processes did and reports it as Changes.
// A read-write SELECT calls TakeRecent; an EXAMINE does not, and calls Flush
// right after Open to write missing UIDs as Dovecot does even read-only.
//
// The index of a mailbox opened through Folders is
// <level>/.imap/<name>/mailsuite.mbox-index (INBOX: <root>/.imap/INBOX/...),
// next to Dovecot's dovecot.index* files, which are never touched. It is
// trusted only while the file's size, mtime, inode and device match; a file
// that only grew is read from the index plus its new tail (and the index is
// brought up to date); anything else is parsed again. A rewrite's rollback
// journal is the index path plus ".journal" (or, without an index, a file
// in the temporary directory); it exists only while its writer holds the
// write lock, so Open judges a journal it finds only under that lock.
//
// The package does not speak IMAP or POP3 (the IMAP layer turns LF into
// CRLF and NUL into 0x80 as Dovecot does), and it does not decide which
// session owns \Recent: it reports which messages are new since the last
// session took them (TakeRecent returns each such UID once per Mailbox) and
// lets the caller hand them out.
package mbox
