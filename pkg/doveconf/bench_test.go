// SPDX-License-Identifier: MIT

package doveconf

import (
	"io"
	"testing"
)

func BenchmarkLoadDebian(b *testing.B) {
	conf := debianTree(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg, err := Load(conf, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := cfg.Dump(io.Discard, true); err != nil {
			b.Fatal(err)
		}
	}
}
