// SPDX-License-Identifier: MIT

package mbox

import "bytes"

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
