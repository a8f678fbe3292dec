// SPDX-License-Identifier: MIT

package mbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// privHelperEnv makes the test binary run privOps on the directory it
// names (see TestMain).
const privHelperEnv = "MBOX_TEST_PRIV_DIR"

// privOps checks LockOptions.Privileged as an ordinary user: the spool
// is the user's but 0500, and the "privileged" function opens it for
// the time of fn, standing in for mail_privileged_group.
func privOps(dir string) error {
	ctx := context.Background()
	spool, root := filepath.Join(dir, "spool"), filepath.Join(dir, "mail")
	for _, d := range []string{spool, root} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.Chmod(spool, 0o500); err != nil {
		return err
	}
	defer os.Chmod(spool, 0o700)
	calls := 0
	priv := func(fn func() error) error {
		calls++
		if err := os.Chmod(spool, 0o700); err != nil {
			return err
		}
		defer os.Chmod(spool, 0o500)
		return fn()
	}
	inbox := filepath.Join(spool, "user")
	f := &Folders{Root: root, Inbox: inbox, Opts: Options{Lock: LockOptions{Privileged: priv}}}

	// A missing INBOX is created through it, 0600.
	mb, err := f.Open(ctx, "INBOX")
	if err != nil {
		return fmt.Errorf("open missing INBOX: %w", err)
	}
	if fi, err := os.Stat(inbox); err != nil || fi.Mode() != 0o600 {
		return fmt.Errorf("INBOX created as %v (%v), want 0600", fi.Mode(), err)
	}
	if calls != 1 {
		return fmt.Errorf("INBOX creation used the privileged function %d times, want 1", calls)
	}
	// Its dotlock is made and removed through it.
	if _, err := mb.Append(ctx, strings.NewReader("Subject: a\n\nbody\n"), AppendOptions{}); err != nil {
		return fmt.Errorf("append to INBOX: %w", err)
	}
	mb.Close(ctx)
	if calls < 3 {
		return fmt.Errorf("dotlock used the privileged function %d times in all, want the creation and the removal too", calls)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 1 {
		return fmt.Errorf("spool holds %d entries after the append, want INBOX alone", len(ents))
	}

	// A folder gets nothing of it, even a symlink into the spool in a
	// level the user cannot write, where the dotlock (beside the
	// symlink) is refused.
	ro := filepath.Join(root, "ro")
	if err := os.Mkdir(ro, 0o700); err != nil {
		return err
	}
	if err := os.Symlink(inbox, filepath.Join(ro, "steal")); err != nil {
		return err
	}
	os.Chmod(ro, 0o500)
	defer os.Chmod(ro, 0o700)
	before := calls
	mb, err = f.Open(ctx, "ro/steal")
	if err != nil {
		return fmt.Errorf("open ro/steal: %w", err)
	}
	_, err = mb.Append(ctx, strings.NewReader("Subject: b\n\nbody\n"), AppendOptions{})
	mb.Close(ctx)
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("append to a folder whose dotlock is refused: %v, want a permission error", err)
	}
	if calls != before {
		return errors.New("a folder used the privileged function")
	}

	// Without it, the INBOX cannot be locked for writing.
	f.Opts.Lock.Privileged = nil
	mb, err = f.Open(ctx, "INBOX")
	if err != nil {
		return err
	}
	defer mb.Close(ctx)
	if _, err := mb.Append(ctx, strings.NewReader("Subject: c\n\nbody\n"), AppendOptions{}); !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("append without the privileged function: %v, want a permission error", err)
	}
	return nil
}

// TestPrivileged runs privOps as an ordinary user: this one, or a
// made-up one when the tests run as root (for whom permissions do not
// apply).
func TestPrivileged(t *testing.T) {
	dir, err := os.MkdirTemp("", "mboxpriv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Getuid() != 0 {
		if err := privOps(dir); err != nil {
			t.Fatal(err)
		}
		return
	}
	os.Chown(dir, 5001, 5001)
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = []string{privHelperEnv + "=" + dir, permHelperEnv + "_ID=5001:5001", "PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid 5001: %v\n%s", err, out)
	}
}
