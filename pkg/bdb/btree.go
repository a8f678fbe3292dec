// SPDX-License-Identifier: MIT

package bdb

import "io"

// writeBTree is a placeholder until the btree writer is written.
func writeBTree(out io.Writer, recs []record, opts WriterOptions) (int64, error) {
	return 0, ErrUnsupported
}
