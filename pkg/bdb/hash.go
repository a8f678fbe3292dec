// SPDX-License-Identifier: MIT

package bdb

import "io"

// openHash and writeHash are placeholders until the hash access method is
// written.
func openHash(p *pager, meta []byte) (accessMethod, error) { return nil, ErrUnsupported }

func writeHash(out io.Writer, recs []record, opts WriterOptions) (int64, error) {
	return 0, ErrUnsupported
}
