// SPDX-License-Identifier: MIT

package makemap_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLockAndRename checks that our makemap waits for a reader holding the
// shared flock sendmail takes around a lookup, that a reader which opened
// the old map keeps reading it whole, and that the new map replaces the
// old one only when complete.
func TestLockAndRename(t *testing.T) {
	tl := needTools(t)
	dir := t.TempDir()
	if r := run(t, tl.real, dir, "", []byte("old.example OLD\n"), "-C", "/dev/null", "hash", "m"); r.rc != 0 {
		t.Fatalf("real makemap: %+v", r)
	}
	path := filepath.Join(dir, "m.db")
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := unix.Flock(int(reader.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(tl.ours, "-C", "/dev/null", "hash", "m")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader([]byte("new.example NEW\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("makemap finished (%v, %s) while a reader held the shared lock", err, stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	// Still the old map, whole, under the path.
	if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, old) {
		t.Fatalf("map changed while locked (err %v)", err)
	}
	unix.Flock(int(reader.Fd()), unix.LOCK_UN)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("makemap: %v: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("makemap did not finish after the lock was released")
	}
	// The reader's descriptor still holds the old file intact.
	st, err := reader.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != int64(len(old)) {
		t.Errorf("old file's size changed from %d to %d under its reader", len(old), st.Size())
	}
	u := run(t, tl.real, dir, "", nil, "-u", "hash", "m")
	if u.stdout != "new.example\tNEW\n" {
		t.Errorf("real makemap -u after the rebuild: %+v", u)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}
