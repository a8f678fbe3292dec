// SPDX-License-Identifier: MIT

package makemap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The errors Sendmail's safefile reports with texts of its own.
var (
	errNoSymlink  = errors.New("Symbolic links not allowed")
	errNoHardlink = errors.New("Hard links not allowed")
	errRegOnly    = errors.New("Regular files only")
)

// maxSymlinks bounds the symbolic links followed in a directory path.
const maxSymlinks = 40

// dirChecker walks the directories of a path the way Sendmail's
// safedirpath does, printing a warning for each world-writable one.
type dirChecker struct {
	warn func(string)
}

// check examines the directory part of file: "." when it has no slash.
func (c dirChecker) check(file string) error {
	dir := "."
	if i := strings.LastIndexByte(file, '/'); i >= 0 {
		dir = file[:i]
	}
	return c.walk(dir, 0, 0)
}

// walk checks every prefix of s that ends before a slash, from offset on,
// then s itself. A prefix ending in "/." or "/.." is skipped (it names a
// directory already checked); a symbolic link is replaced by its target
// and the walk goes on there.
func (c dirChecker) walk(s string, offset, level int) error {
	if level > maxSymlinks {
		return syscall.ELOOP
	}
	if s == "" {
		s = "/"
	}
	p := offset
	for p < len(s) {
		var comp string
		end := -1 // index of the slash ending comp, -1 at the end of s
		if i := strings.IndexByte(s[p:], '/'); i >= 0 {
			end = p + i
			if end == 0 {
				comp = "/"
			} else {
				comp = s[:end]
			}
		} else {
			comp = s
		}
		if !strings.HasSuffix(comp, "/.") && !strings.HasSuffix(comp, "/..") {
			var st syscall.Stat_t
			if err := syscall.Lstat(comp, &st); err != nil {
				return err
			}
			if st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
				target, err := os.Readlink(comp)
				if err != nil {
					return err
				}
				rest := ""
				if end >= 0 {
					rest = s[end:]
				}
				if strings.HasPrefix(target, "/") {
					return c.walk(target+rest, 0, level+1)
				}
				parent := ""
				if k := strings.LastIndexByte(comp, '/'); k >= 0 {
					parent = comp[:k+1]
				}
				return c.walk(parent+target+rest, len(parent), level+1)
			}
			if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
				// Sendmail reports a file in the middle of the path
				// as a permission problem.
				return syscall.EACCES
			}
			if st.Mode&0o002 != 0 {
				c.warn("WARNING: World writable directory " + comp + "\n")
			}
		}
		if end < 0 {
			break
		}
		p = end + 1
	}
	return nil
}

// target is what the checks found about the map file.
type target struct {
	path   string // the file to replace: the link's target under -s
	exists bool
	info   syscall.Stat_t
}

// checkFile applies safefile's rules to the map file: directories first,
// then no symbolic or hard link (unless unsafe), a regular file only, and
// permission bits that let us read it (and write it, with write) -- for
// root too. A missing file is fine when create is set. trusted is the
// TrustedUser's uid, which counts as the file's owner.
func checkFile(path string, create, unsafe, write bool, trusted uint32, warn func(string)) (target, error) {
	t := target{path: path}
	if err := (dirChecker{warn}).check(path); err != nil {
		return t, err
	}
	err := syscall.Lstat(path, &t.info)
	if errors.Is(err, syscall.ENOENT) {
		if create {
			return t, nil
		}
		return t, err
	} else if err != nil {
		return t, err
	}
	if t.info.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		if !unsafe {
			return t, errNoSymlink
		}
		if err := syscall.Stat(path, &t.info); err != nil {
			if errors.Is(err, syscall.ENOENT) && create {
				// makemap creates with O_EXCL, which a dangling
				// link refuses.
				return t, syscall.EEXIST
			}
			return t, err
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return t, err
		}
		t.path = real
	}
	if t.info.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return t, errRegOnly
	}
	if t.info.Nlink > 1 && !unsafe {
		return t, errNoHardlink
	}
	if !permitted(&t.info, write, trusted) {
		return t, syscall.EACCES
	}
	t.exists = true
	return t, nil
}

// permitted checks the file's permission bits as safefile does: the
// owner's bits when we (or TrustedUser, when we are root) own it, else the
// group's when its group is ours, else the others' bits. Root gets no
// exemption, so a root-owned 0444 map is refused, as by the real makemap.
func permitted(st *syscall.Stat_t, write bool, trusted uint32) bool {
	need := uint32(0o4)
	if write {
		need |= 0o2
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	var bits uint32
	switch {
	case st.Uid == uid || uid == 0 && trusted != 0 && st.Uid == trusted:
		bits = st.Mode >> 6
	case st.Gid == gid:
		bits = st.Mode >> 3
	default:
		bits = st.Mode
	}
	return bits&need == need
}

// errText is the C library's text for an error, as makemap prints it.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EIO:
			return "Input/output error"
		case syscall.ENOSPC:
			return "No space left on device"
		case syscall.EDQUOT:
			return "Disk quota exceeded"
		}
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}
