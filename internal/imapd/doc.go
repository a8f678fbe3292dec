// SPDX-License-Identifier: MIT

// Package imapd is dovecotd's IMAP server: a github.com/emersion/go-imap/v2
// imapserver backend over mailsuite/pkg/mbox, with Dovecot 2.3's login rules
// (disable_plaintext_auth, LOGINDISABLED, the auth failure delay and its
// per-address penalty), its greeting and refusal texts where the library lets
// us choose them, and its log lines through internal/maillog.
//
// Every selected mailbox is shared by the sessions of this process that have
// it open: one mbox.Mailbox per file, one imapserver.MailboxTracker fed with
// the changes sessions make and, through inotify with a periodic stat as
// fallback, those made by other processes (deliveries by sendmaild or
// procmail, real Dovecot). \Recent goes to exactly one session.
//
// It does not switch credentials: run as root it still opens mail files as
// root (privilege separation is dovecotd's job, not done yet); run as an
// ordinary user it serves that user's files. It offers only what go-imap
// v2.0.0-beta.8 and this backend implement (no SORT, THREAD, CONDSTORE,
// QRESYNC, ID or MULTIAPPEND), so its CAPABILITY lists are shorter than
// Dovecot's.
package imapd
