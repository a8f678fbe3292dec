// SPDX-License-Identifier: MIT

package main

import (
	"os"

	"mailsuite/internal/deliver"
)

// A /file recipient is written by a child of sendmaild started with the
// controlling user's credentials (internal/deliver's File): sendmaild
// itself, with deliver.FileHelperArg first. It runs before anything else
// of sendmaild, from this init function, and exits.
func init() {
	if len(os.Args) > 1 && os.Args[1] == deliver.FileHelperArg {
		os.Exit(deliver.RunFileHelper(os.Args[2:], os.Stdin))
	}
}
