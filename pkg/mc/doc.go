// SPDX-License-Identifier: MIT

// Package mc turns a sendmail.mc file into sendmail.cf text, as GNU m4
// 1.4 with Debian's sendmail-cf macro files does.
//
// It has two layers. The Engine is an m4 interpreter with GNU m4 1.4's
// semantics for the subset that .mc files and the sendmail-cf macros use:
// quoting (changequote), comments (changecom), argument collection and
// rescanning, define/pushdef/popdef/defn/undefine, ifdef and every form of
// ifelse, include/sinclude, diversions (divert, undivert, divnum), shift,
// $0-$9 $# $* $@, len, index, substr, translit, incr, decr, eval, format,
// regexp, patsubst, errprint, dumpdef, __file__, __line__, m4exit, m4wrap,
// builtin and indir. Diagnostics are written as m4 writes them
// ("m4:<file>:<line>: <message>") and the exit status follows m4's rules;
// syscmd, esyscmd, maketemp and mkstemp are refused with an error, and
// tracing (traceon, debugmode) is absent. Nesting depth, the number of
// macro calls and the amount of text an input may produce are bounded,
// so no input can hang or exhaust memory.
//
// The sendmail-cf layer, built on the Engine with Go builtins, provides
// the macros that cf.m4 and its OSTYPE, FEATURE, MAILER and DOMAIN files
// define, so that Compile emits the same cf text as
// "m4 -D_NO_MAKEINFO_ sendmail.mc" with /usr/share/sendmail/cf installed.
package mc
