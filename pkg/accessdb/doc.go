// SPDX-License-Identifier: MIT

// Package accessdb reproduces how Sendmail 8.17 looks things up in its
// access map (FEATURE(access_db)): the order of keys each check tries
// (Connect:, From:, To:, Spam:, GreetPause:, ClientRate:, ClientConn:,
// Srv_Features:, TLS_*: with their domain, address, user and full-address
// walks), how the value on the right-hand side is read (OK, RELAY,
// REJECT, DISCARD, SKIP, QUARANTINE:, ERROR:, anything else as an error
// text) and the SMTP reply texts Sendmail makes of it.
//
// It works over any Map. MemMap is an in-memory map; DBMap reads the
// Berkeley DB files makemap writes, with sendmail's key rules (case
// folding, the optional trailing NUL, 256-byte keys).
//
// The package does not decide policy: which checks run at which SMTP
// stage, delay_checks, relaying decisions and class w belong to the SMTP
// daemon. It does not execute sendmail.cf rulesets; the lookup orders are
// those of the stock proto.m4 and FEATURE files, as the project's
// reference notes on the access map (reference/sendmail-access.md)
// record them after tracing the real sendmail.
package accessdb
