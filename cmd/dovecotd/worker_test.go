// SPDX-License-Identifier: MIT

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary be a mail worker: serveCtx run as root
// re-executes /proc/self/exe (this binary) with the worker flag.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == workerFlag {
		os.Exit(workerMain(os.Stderr))
	}
	os.Exit(m.Run())
}

// mailUser is the uid and gid a test's mail user gets: the invoking
// user's, or when the tests run as root (where dovecotd hands sessions
// to workers, and Dovecot refuses uid 0) an ordinary one.
func mailUser() (uid, gid int) {
	if os.Geteuid() == 0 {
		return 1000, 1000
	}
	return os.Getuid(), os.Getgid()
}

// giveTo makes the tree under dir the mail user's, and the directories
// above it up to the temporary directory searchable, as a user's home
// and spool are on a real system. It does nothing unless run as root.
func giveTo(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	searchable(t, dir)
}

// searchable opens every directory from dir up to (not including) the
// system's temporary directory for search by others.
func searchable(t *testing.T, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); len(p) > len(tmp) && p != "/"; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
}
