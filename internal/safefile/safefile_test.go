// SPDX-License-Identifier: MIT

package safefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUnsafeDir(t *testing.T) {
	tests := []struct {
		mode  os.FileMode
		flags []string
		want  string
	}{
		{0o755, nil, ""},
		{0o775, nil, "Group writable directory"},
		{0o775, []string{"GroupWritableDirPathSafe"}, ""},
		{0o777, nil, "World writable directory"},
		{0o777, []string{"TrustStickyBit"}, "World writable directory"},
		{0o777 | os.ModeSticky, []string{"trustStickyBit"}, ""},
		{0o777 | os.ModeSticky, nil, "World writable directory"},
	}
	for _, tt := range tests {
		// The walk starts at top, so a test directory below a sticky
		// /tmp is judged on its own modes.
		top := t.TempDir()
		dir := filepath.Join(top, "mail")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(top, 0o755)
		if got := UnsafeDir(dir, top, NewFlags(tt.flags)); got != tt.want {
			t.Errorf("mode %v flags %v: got %q, want %q", tt.mode, tt.flags, got, tt.want)
		}
	}
}
