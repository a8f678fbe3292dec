// SPDX-License-Identifier: MIT

// Package doveconf reads Dovecot 2.3's configuration language and knows
// Dovecot's built-in default for every setting.
//
// It handles what doveconf 2.3.19.1 (Debian 12) handles: key = value lines
// with quoting, comments and continuation lines; sections and named
// sections nested to any depth (service/inet_listener, namespace/mailbox,
// passdb, userdb, plugin, ...); the protocol, local, remote and local_name
// filters; !include and !include_try with relative paths, globs and brace
// alternatives; <file values and $references (kept as written, as doveconf
// -n shows them, or expanded with Options.Expand like doveconf -x); the
// obsolete settings Dovecot still rewrites.
// Errors and warnings carry doveconf's own texts, file and line, and the
// checks doveconf runs after parsing (master, auth, mail and stats
// modules, filter conflicts) give its messages too.
//
// Config.Dump prints a configuration exactly as doveconf -n or -a does
// (apart from the header comments). Config.Value and Config.Settings give
// the settings for one kind of connection, merging the filter blocks that
// apply as Dovecot does (the most specific block wins, passdb/userdb lists
// of protocol blocks come before the global ones). ParseMailLocation,
// ExpandVars and HomeExpand interpret mail_location and Dovecot's
// %-variables.
//
// It does not: resolve host names in local/remote filters (a name is
// refused instead of looked up), accept the 1.x "auth { }" section, or run
// the per-setting checks that need the system (default_login_user
// existing, ssl_dh parameter files) or that only the daemons run.
package doveconf

//go:generate go run gen_defaults.go
