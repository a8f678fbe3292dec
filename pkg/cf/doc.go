// SPDX-License-Identifier: MIT

// Package cf reads a sendmail.cf the way Sendmail 8.17's readcf does and
// returns it as a typed Config: every line type (V, D, C, F, K, O, M, P,
// T, H, S, R, E, X, Q), folded continuation lines and comments, with
// Sendmail's built-in defaults for the options the SMTP daemon uses
// (daemon sockets, queue, aliases, limits, timeouts, TLS files, privacy
// and AUTH settings) and the access map declaration.
//
// Errors carry the file name and line in Sendmail's own wording
// ("sendmail.cf: line 3: readcf: unknown option name Foo"); all of them
// are collected, and a Config is returned alongside them.
//
// The package does not execute rulesets (S and R lines are kept as text),
// does not expand macros in option values (they are kept with their $
// sequences, as Sendmail keeps them until use), does not run the programs
// of F{x}|program lines and does not add the run-time members of class w
// (host names and interface addresses); the SMTP daemon does that.
package cf
