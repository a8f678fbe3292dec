// SPDX-License-Identifier: MIT

package bdb

import "io"

func writeHash(out io.Writer, recs []record, opts WriterOptions) (int64, error) {
	return 0, ErrUnsupported
}
