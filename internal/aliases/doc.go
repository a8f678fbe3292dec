// SPDX-License-Identifier: MIT

// Package aliases resolves local recipients the way Sendmail 8.17 does:
// the aliases(5) file, its aliases.db, :include: lists, |program and
// /file targets, owner- lists, ~/.forward per ForwardPath, and newaliases.
//
// Parse reads an aliases file as Sendmail's readaliases does:
// continuation lines (leading blank, or a backslash before the newline),
// comments (which also swallow the continuation lines after them), names
// lower-cased with angle brackets removed and unquoted blanks turned into
// ".", and errors in Sendmail's words with file and line
// ("/etc/aliases: line 13: missing colon").
//
// Build and Newaliases rebuild aliases.db as "newaliases" / "sendmail -bi"
// does: a Berkeley DB hash (pkg/bdb) with NUL-terminated keys and values
// and the "@" → "@" marker, written atomically; Newaliases prints each
// problem and "<file>: N aliases, longest N bytes, N bytes total" on
// stdout, logs "alias database <file> rebuilt by <user>" and the summary
// through internal/maillog, and returns Sendmail's exit status (0, or 70
// when the file had errors). OpenDB looks names up in a built file.
//
// Expander.Expand turns one address into its final Targets (mailboxes,
// programs, files, remote addresses), with Sendmail's rules: recursive
// aliases up to MaxAliasRecursion (10, then "aliasing/forwarding loop
// broken (11 aliases deep; 10 max)"), duplicates delivered once, an
// expansion left with nothing ErrAliasLoop, a self-reference ("b: b, c")
// delivering to b's own mailbox, "\user" stopping alias and .forward
// expansion, quoted local parts naming the user, safe ~/.forward files
// per ForwardPath, and owner-<list> naming the errors address. These
// rules are checked against the real "sendmail -bv". The SMTP server calls
// it at RCPT time through Expander.Exists (its Recipients interface; a
// false is "550 5.1.1 <x>... User unknown"), the queue at delivery time:
//
//	maps, err := aliases.OpenMaps(cfg.Settings.AliasFiles) // the .db files
//	x := &aliases.Expander{
//		Lookup:      maps.Lookup,
//		LookupUser:  func(n string) (aliases.User, bool, error) { ... pkg/shadowauth ... },
//		IsLocal:     func(d string) bool { return cfg.InClass("w", d) },
//		ForwardPath: cfg.Settings.ForwardPath,
//		Hostname:    "mail.hamap.local",
//	}
//	targets, errs := x.Expand("<b@hamap.local>")
//
// The package does not run programs, write files or deliver mail
// (internal/deliver does), does not check the RHS addresses' syntax
// (Sendmail's CheckAliases option, off by default), and does not resolve
// non-local alias names ("x@y:" is refused, as Sendmail refuses a domain
// that is not its own).
package aliases
