// SPDX-License-Identifier: MIT

// Package makemap is Sendmail 8.17's makemap: it reads "key value" lines
// and builds a Berkeley DB hash or btree map (through mailsuite/pkg/bdb),
// or lists one (-u). Messages, exit codes and the rules for parsing lines
// and for checking the map's path are the real program's; the file is
// built under a temporary name and renamed into place instead of being
// rewritten in place, so that no reader sees a half-built map.
//
// It does not support the dbm (NDBM) type, which Debian's makemap lacks
// too, nor the ownership checks Sendmail's safefile applies to a map owned
// by another user when run without root.
package makemap

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"syscall"

	"mailsuite/pkg/bdb"
)

// Exit statuses from sysexits.h that makemap uses.
const (
	exOK        = 0
	exUsage     = 64
	exDataErr   = 65
	exNoInput   = 66
	exCantCreat = 73
	exIOErr     = 74
)

// Main runs makemap. args[0] is the program name; it returns the exit
// status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	argv0 := "makemap"
	if len(args) > 0 {
		argv0 = args[0]
		args = args[1:]
	}
	prog := progName(argv0)
	out := bufio.NewWriterSize(stdout, 64*1024)
	defer out.Flush()
	warn := func(s string) { io.WriteString(stderr, s) }

	o, l, err := parseArgs(argv0, args, warn)
	if err != nil {
		io.WriteString(stderr, err.Error()+usage(prog))
		return exUsage
	}
	if l != listNone {
		io.WriteString(out, typeList(l))
		return exOK
	}

	cfFile, err := os.Open(o.CF)
	if err != nil {
		fmt.Fprintf(stderr, "makemap: %s: %s\n", o.CF, errText(err))
		return exNoInput
	}
	cf := readCF(cfFile, warn)
	cfFile.Close()

	typ := o.Type
	if typ == "cf" {
		class, ok := cf.classes[o.Map]
		switch {
		case ok:
			typ = class
		case o.Fallback != "":
			typ = o.Fallback
		default:
			fmt.Fprintf(stderr, "%s: mapfile %s: not found in %s\n", prog, o.Map, o.CF)
			return exDataErr
		}
	}
	var kind bdb.Type
	switch typ {
	case "hash", "implicit":
		kind = bdb.Hash
	case "btree":
		kind = bdb.BTree
	case "dbm":
		fmt.Fprintf(stderr, "%s: Need to recompile with -DNDBM for dbm support\n", prog)
		return exCantCreat
	default:
		fmt.Fprintf(stderr, "%s: error opening type %s map %s: Unknown database type\n", prog, typ, o.Map)
		return exCantCreat
	}
	openErr := func(err error) int {
		fmt.Fprintf(stderr, "%s: error opening type %s map %s: %s\n", prog, typ, o.Map, errText(err))
		return exCantCreat
	}

	path := dbPath(o.Map)
	t, err := checkFile(path, !o.Dump && !o.Append, o.Unsafe, !o.Dump, cf.trustedUID, warn)
	if err != nil {
		return openErr(err)
	}
	// The real makemap runs the checks twice (once before opening, once
	// in the database layer), so the warnings come twice.
	if err := (dirChecker{warn}).check(path); err != nil {
		return openErr(err)
	}

	if o.Dump {
		return dump(t.path, kind, typ == "implicit", o.Sep, out, openErr)
	}
	b := &builder{
		opts:    o,
		prog:    prog,
		kind:    kind,
		anyKind: typ == "implicit",
		target:  t,
		trusted: cf.trustedUID,
		stdout:  out,
		stderr:  stderr,
		openErr: openErr,
	}
	return b.run(stdin)
}

// dump lists the map at path as makemap -u does: key, separator (a tab
// unless -t), value, each cut at its first NUL as printf's %.*s does.
func dump(path string, kind bdb.Type, anyKind bool, sep byte, out *bufio.Writer, openErr func(error) int) int {
	db, err := bdb.Open(path)
	if err != nil {
		if os.IsNotExist(err) || os.IsPermission(err) {
			return openErr(err)
		}
		return openErr(syscall.EINVAL)
	}
	defer db.Close()
	if db.Type() != kind && !anyKind {
		return openErr(syscall.EINVAL)
	}
	if sep == 0 {
		sep = '\t'
	}
	err = db.Walk(func(key, val []byte) error {
		out.Write(cString(key))
		out.WriteByte(sep)
		out.Write(cString(val))
		return out.WriteByte('\n')
	})
	if err != nil {
		return openErr(syscall.EINVAL)
	}
	return exOK
}

// cString is b up to its first NUL.
func cString(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
