// SPDX-License-Identifier: MIT

package mbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// perm is how Dovecot's mailbox list creates files and directories: the
// modes and group come from the mailbox's own path or, when that does
// not exist, from its parent's, up to the mail root, so that a root
// made 0755 gives 0644 files and 0755 directories, and a shared 2770
// root keeps its group.
type perm struct {
	file, dir uint32 // permission bits, the umask not applied
	gid       int    // chown new files and directories to it; -1: leave the group alone
}

// defaultPerm is what Dovecot uses when nothing exists to take modes
// from.
var defaultPerm = perm{file: 0o600, dir: 0o700, gid: -1}

// permOf derives the creation rule from an existing path, as Dovecot's
// mailbox list does: the file mode keeps the read and write bits and
// adds the owner's, the directory mode keeps the permission bits (a file
// turns its read bits into search bits) and adds the owner's. The group
// is left to the kernel when the path is a setgid directory, when group
// and others have the same access (the group would change nothing), when
// it is our effective gid already, or when the path is a file in a
// setgid directory; else new files get the path's group.
func permOf(path string) (perm, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return defaultPerm, false
	}
	mode := st.Mode
	p := perm{file: mode&0o666 | 0o600, dir: mode&0o777 | 0o700, gid: int(st.Gid)}
	isDir := mode&unix.S_IFMT == unix.S_IFDIR
	if !isDir {
		p.dir |= (p.dir & 0o444) >> 2
	}
	switch {
	case isDir && mode&unix.S_ISGID != 0,
		(mode&0o070)>>3 == mode&0o007,
		uint32(os.Getegid()) == st.Gid:
		p.gid = -1
	case !isDir:
		var pst unix.Stat_t
		if unix.Stat(filepath.Dir(path), &pst) == nil && pst.Mode&unix.S_ISGID != 0 {
			p.gid = -1
		}
	}
	return p, true
}

// mailboxPerm is the rule for creating a mailbox name or things that
// belong to it: from the name's own path, else its parent's, else the
// mail root's.
func (f *Folders) mailboxPerm(name string) perm {
	for name != "" {
		if p, err := f.Path(name); err == nil {
			if pm, ok := permOf(p); ok {
				return pm
			}
		}
		i := strings.LastIndex(strings.TrimSuffix(name, "/"), "/")
		if i < 0 {
			break
		}
		name = name[:i]
	}
	return f.rootPerm()
}

// rootPerm is the mail root's rule.
func (f *Folders) rootPerm() perm {
	p, _ := permOf(f.Root)
	return p
}

// noUmask runs fn on a thread of its own whose umask is 0, so that modes
// come out exactly as given. The umask belongs to the whole process
// (every thread shares it), so the thread first takes a private copy of
// its file system state; it then must not serve other goroutines and
// ends with this one. Where that is refused, fn runs as it is and the
// umask narrows the modes.
func noUmask(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread ends with the goroutine.
		if err := unix.Unshare(unix.CLONE_FS); err == nil {
			unix.Umask(0)
		}
		ch <- fn()
	}()
	return <-ch
}

// mkdir creates dir with the rule's mode and group.
func (p perm) mkdir(dir string) error {
	err := noUmask(func() error { return os.Mkdir(dir, fs.FileMode(p.dir)) })
	if err != nil {
		return err
	}
	if err := p.chgrp(dir); err != nil {
		os.Remove(dir)
		return err
	}
	return nil
}

// mkdirAll creates dir and its missing parents with the rule.
func (p perm) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := p.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := p.mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// create makes an empty file with the rule's mode and group; it fails
// when the name exists.
func (p perm) create(path string) error {
	var fl *os.File
	err := noUmask(func() (err error) {
		fl, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(p.file))
		return err
	})
	if err != nil {
		return err
	}
	if err := p.chgrp(path); err != nil {
		fl.Close()
		os.Remove(path)
		return err
	}
	return fl.Close()
}

// chgrp gives path the rule's group. Like Dovecot, a failure (a root
// whose group the user is no member of, without the setgid bit) fails
// the creation: the file would be readable by the wrong group.
func (p perm) chgrp(path string) error {
	if p.gid < 0 {
		return nil
	}
	if err := os.Lchown(path, -1, p.gid); err != nil {
		return fmt.Errorf("chgrp %s to %d (the group of the level above; egid %d): %w", path, p.gid, os.Getegid(), err)
	}
	return nil
}

// createInbox creates a missing INBOX as Dovecot does: mode 0600 (its
// 0660 under the mail process's umask 0077), as the user first and,
// when the spool refuses that, with mail_privileged_group.
func createInbox(path string, priv func(fn func() error) error) error {
	create := func() error {
		fl, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		return fl.Close()
	}
	err := create()
	if errors.Is(err, fs.ErrPermission) && priv != nil {
		err = priv(create)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create INBOX %s: %w", path, err)
	}
	return nil
}
