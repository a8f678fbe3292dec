// SPDX-License-Identifier: MIT

// Command makemap builds and lists Sendmail's Berkeley DB maps, as
// Sendmail 8.17's makemap does:
//
//	makemap [-C file] [-N] [-c cachesize] [-d] [-D commentchar] [-e] [-f]
//	        [-i type] [-l] [-o] [-r] [-s] [-t delim] [-u] [-v] maptype mapname
//
// The source lines come from standard input. See mailsuite/internal/makemap.
package main

import (
	"os"

	"mailsuite/internal/makemap"
)

func main() {
	os.Exit(makemap.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
