// SPDX-License-Identifier: MIT

package bdb

import "io"

// openBTree and writeBTree are placeholders until the btree access method
// is written.
func openBTree(p *pager, meta []byte) (accessMethod, error) { return nil, ErrUnsupported }

func writeBTree(out io.Writer, recs []record, opts WriterOptions) (int64, error) {
	return 0, ErrUnsupported
}
