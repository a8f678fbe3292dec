// SPDX-License-Identifier: MIT

package makemap

import (
	"fmt"
	"strings"
)

// Options are makemap's command-line settings.
type Options struct {
	SyntaxOptions
	// CF is the sendmail.cf read for TrustedUser and K lines (-C).
	CF string
	// Duplicates keeps every value of a repeated key (-d).
	Duplicates bool
	// Replace lets a later value of a key replace an earlier one (-r).
	Replace bool
	// Append adds to an existing map instead of replacing it (-o).
	Append bool
	// Unsafe follows symbolic and hard links (-s).
	Unsafe bool
	// Dump lists the map instead of building it (-u).
	Dump bool
	// Verbose echoes each record to stdout (-v).
	Verbose bool
	// Fallback is the type used by type "cf" when no K line matches (-i).
	Fallback string
	// Type and Map are the two operands.
	Type, Map string
}

// list is what -l, -x and -L ask for.
type list int

const (
	listNone list = iota
	listTypes
	listTypesExt
	listTypesCF
)

// usageError carries the getopt message (if any) printed before the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// optArg tells which option letters take an argument; the others are
// flags. It is makemap's getopt string "C:D:Nc:defi:lLorst:uvx".
var optArg = map[byte]bool{
	'C': true, 'D': true, 'c': true, 'i': true, 't': true,
	'N': false, 'd': false, 'e': false, 'f': false, 'l': false, 'L': false,
	'o': false, 'r': false, 's': false, 'u': false, 'v': false, 'x': false,
}

// parseArgs reads args (without argv[0]) as glibc's getopt does, operands
// permuted after options, and applies them in order. argv0 names the
// program in getopt's own messages. warn receives the "Invalid separator"
// notice. A -l/-x/-L stops parsing at once, as makemap exits there.
func parseArgs(argv0 string, args []string, warn func(string)) (Options, list, error) {
	o := Options{CF: "/etc/mail/sendmail.cf"}
	o.Comment = '#'
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			takes, known := optArg[c]
			if !known {
				return o, listNone, &usageError{fmt.Sprintf("%s: invalid option -- '%c'\n", argv0, c)}
			}
			var arg string
			if takes {
				if j+1 < len(a) {
					arg = a[j+1:]
				} else if i+1 < len(args) {
					i++
					arg = args[i]
				} else {
					return o, listNone, &usageError{fmt.Sprintf("%s: option requires an argument -- '%c'\n", argv0, c)}
				}
				j = len(a)
			}
			switch c {
			case 'C':
				o.CF = arg
			case 'D':
				o.Comment = firstByte(arg)
			case 'N':
				o.IncludeNull = true
			case 'c':
				// The cache size has no effect on the file.
			case 'd':
				o.Duplicates = true
			case 'e':
				o.AllowEmpty = true
			case 'f':
				o.KeepCase = true
			case 'i':
				o.Fallback = arg
			case 'l':
				return o, listTypes, nil
			case 'x':
				return o, listTypesExt, nil
			case 'L':
				return o, listTypesCF, nil
			case 'o':
				o.Append = true
			case 'r':
				o.Replace = true
			case 's':
				o.Unsafe = true
			case 't':
				if arg == "" {
					warn("Invalid separator\n")
					break
				}
				o.Sep = arg[0]
			case 'u':
				o.Dump = true
			case 'v':
				o.Verbose = true
			}
		}
	}
	if len(operands) != 2 {
		return o, listNone, &usageError{}
	}
	o.Type, o.Map = operands[0], operands[1]
	return o, listNone, nil
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// progName is argv[0] without its directory, as makemap names itself.
func progName(argv0 string) string {
	if i := strings.LastIndexByte(argv0, '/'); i >= 0 {
		return argv0[i+1:]
	}
	return argv0
}

// usage is makemap's three-line usage text for program name prog.
func usage(prog string) string {
	pad := strings.Repeat(" ", len("Usage: ")+len(prog)+1)
	return "Usage: " + prog + " [-C cffile] [-N] [-c cachesize] [-D commentchar]\n" +
		pad + "[-d] [-e] [-f] [-i type] [-l] [-o] [-r] [-s] [-t delimiter]\n" +
		pad + "[-u] [-v] type mapname\n"
}

// typeList is the output of -l (ext false) or -x (ext true).
func typeList(l list) string {
	switch l {
	case listTypesExt:
		return "hash:db\nbtree:db\nimplicit:\n"
	case listTypesCF:
		return "cf\nCF\nhash\nbtree\nimplicit\n"
	}
	return "hash\nbtree\nimplicit\n"
}

// dbPath is the file a map name refers to: ".db" is added unless the name
// already ends in it.
func dbPath(mapname string) string {
	if strings.HasSuffix(mapname, ".db") {
		return mapname
	}
	return mapname + ".db"
}
