// SPDX-License-Identifier: MIT

// Package doveconf reads Dovecot 2.3's configuration language and knows
// Dovecot's built-in default for every setting.
//
// It handles what doveconf 2.3.19.1 (Debian 12) handles: key = value lines
// with quoting, comments and continuation lines; sections and named
// sections nested to any depth (service/inet_listener, namespace/mailbox,
// passdb, userdb, plugin, ...); the protocol, local, remote and local_name
// filters; !include and !include_try with relative paths and globs; <file
// values (kept unexpanded, as doveconf -n shows them); $key
// self-references. Errors carry doveconf's own texts, file and line.
//
// Config.Dump prints a configuration exactly as doveconf -n or -a does
// (apart from the header comments), and Config.Settings gives a typed view
// of the settings mailsuite's dovecotd honours. ParseMailLocation and
// ExpandVars interpret mail_location and Dovecot's %-variables.
//
// It does not do what only a running Dovecot does: it resolves no host
// names in local/remote filters (a name is refused), expands $variables
// other than self-references only in the typed view's callers, runs only
// a few of Dovecot's per-setting checks, and knows no obsolete-setting
// rewrites of Dovecot's old-set-parser.
package doveconf

//go:generate go run gen_defaults.go
