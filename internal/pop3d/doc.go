// SPDX-License-Identifier: MIT

// Package pop3d is mailsuite's POP3 server, speaking POP3 the way Dovecot
// 2.3's pop3-login and pop3 processes do on Debian 12: the same greeting,
// capability lists, reply texts and response codes (RFC 1939, CAPA from
// RFC 2449, RESP-CODES, AUTH-RESP-CODE, PIPELINING, USER/PASS, SASL PLAIN
// and LOGIN from RFC 5034, STLS from RFC 2595 and implicit TLS), over an
// mbox INBOX kept by pkg/mbox.
//
// Message sizes and RETR/TOP output are computed as Dovecot does: CR added
// before bare LFs, Dovecot's private headers left out, dot-stuffing, the
// TOP line count starting at the blank line. UIDLs follow
// pop3_uidl_format. DELE takes effect only at QUIT (RFC 1939's UPDATE
// state), through pkg/mbox's expunge under the write lock; a connection
// that drops without QUIT changes no flag and deletes nothing. RETR marks
// \Seen at QUIT unless pop3_no_flag_updates is set; pop3_delete_type and
// pop3_deleted_flag, pop3_lock_session and pop3_logout_format are honoured.
//
// Serve runs the protocol on a listener; ServeConfig opens the pop3-login
// listeners a dovecot.conf asks for. The package does not switch user
// credentials: mail is read with the credentials of the calling process
// (see DESIGN.md's privilege model, which belongs to the daemon). The mbox
// is read-locked while each RETR or TOP is sent, after picking up what
// other processes changed (a message expunged meanwhile gives Dovecot's
// "-ERR Message N expunged."); Dovecot instead keeps the lock until the
// session has been idle for 10 s.
package pop3d
