// SPDX-License-Identifier: MIT

package queue

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzReadQF: the reader never panics, and whatever it accepts it writes
// back in a form it reads again to the same envelope, and that form is
// stable. Seeds (testdata/fuzz/FuzzReadQF) include every real qf sample.
func FuzzReadQF(f *testing.F) {
	f.Add([]byte("V8\nT1\nK0\nN0\nP1\nSa\nRP:b\n.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ReadEnvelope(bytes.NewReader(data))
		if err != nil {
			return
		}
		out := env.Bytes()
		again, err := ReadEnvelope(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("own output unreadable: %v\n%q", err, out)
		}
		if diff := cmp.Diff(env, again, cmp.AllowUnexported(Header{})); diff != "" {
			t.Fatalf("write/read changed the envelope (-first +second):\n%s\n%q", diff, out)
		}
		if out2 := again.Bytes(); !bytes.Equal(out, out2) {
			t.Fatalf("output not stable:\n%q\n%q", out, out2)
		}
	})
}
