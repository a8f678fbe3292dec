// SPDX-License-Identifier: MIT

package mbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Folders is a user's mail as Dovecot lays out mbox:~/mail:INBOX=<spool>:
// INBOX is the spool file, every other mailbox a file under Root, the
// hierarchy separator "/" a directory level. Dovecot's control files live
// in a ".imap" directory per level (".imap/<name>/" for the mailbox <name>
// there); our index for a mailbox is <level>/.imap/<name>/mailsuite.mbox-index,
// beside Dovecot's dovecot.index* files, which we never touch. What it
// creates under Root gets the modes and group Dovecot would give it,
// taken from the closest existing level (see perm); a missing INBOX is
// created 0600, through Opts.Lock.Privileged when the spool refuses the
// user.
type Folders struct {
	Root  string  // the mail root, e.g. ~/mail
	Inbox string  // the INBOX file, e.g. /var/mail/<user>
	Opts  Options // template for Open; IndexPath and UIDVALIDITY are set per mailbox
}

// ErrHasChildren is Dovecot's refusal to delete a directory that still
// holds mailboxes.
var ErrHasChildren = errors.New("mailbox has children, delete them first")

// ErrExists and ErrNoMailbox report CREATE/RENAME of an existing name and
// access to a missing one.
var (
	ErrExists    = errors.New("mailbox already exists")
	ErrNoMailbox = errors.New("mailbox doesn't exist")
)

// MailboxInfo is one LIST entry.
type MailboxInfo struct {
	Name        string
	NoSelect    bool // a directory
	NoInferiors bool // a file (mbox files cannot have children)
	HasChildren bool // for directories
}

const indexFile = "mailsuite.mbox-index"

func isInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

// Path returns the file (or directory) of a mailbox name.
func (f *Folders) Path(name string) (string, error) {
	if isInbox(name) {
		return f.Inbox, nil
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("mailbox name %q: invalid", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || part == ".imap" || part == ".subscriptions" && !strings.Contains(name, "/") {
			return "", fmt.Errorf("mailbox name %q: invalid", name)
		}
	}
	return filepath.Join(f.Root, filepath.FromSlash(name)), nil
}

// IndexPath returns where our index for the mailbox lives.
func (f *Folders) IndexPath(name string) (string, error) {
	if isInbox(name) {
		return filepath.Join(f.Root, ".imap", "INBOX", indexFile), nil
	}
	p, err := f.Path(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), ".imap", filepath.Base(p), indexFile), nil
}

// Open opens a mailbox; INBOX is created when missing, as Dovecot does.
func (f *Folders) Open(ctx context.Context, name string) (*Mailbox, error) {
	p, err := f.Path(name)
	if err != nil {
		return nil, err
	}
	opts := f.Opts
	if opts.IndexPath, err = f.IndexPath(name); err != nil {
		return nil, err
	}
	opts.Create = isInbox(name)
	opts.NewUIDValidity = f.allocUIDValidity
	if !opts.Create || f.inRoot(p) {
		// mail_privileged_group serves only an INBOX in the spool, as
		// in Dovecot: never a folder, which may be a symlink the user
		// made into the spool.
		opts.Lock.Privileged = nil
	}
	fi, err := os.Stat(p)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("open %s: %w", name, ErrNotMbox)
	case err != nil && !opts.Create:
		return nil, fmt.Errorf("open %s: %w", name, ErrNoMailbox)
	case err != nil && errors.Is(err, fs.ErrNotExist):
		if err := createInbox(p, opts.Lock.Privileged); err != nil {
			return nil, err
		}
	}
	f.makeIndexDir(name, p, opts.IndexPath)
	return Open(ctx, p, opts)
}

// inRoot tells whether path lies under the mail root.
func (f *Folders) inRoot(path string) bool {
	rel, err := filepath.Rel(f.Root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// makeIndexDir creates the control directory that holds a mailbox's
// index with the modes Dovecot gives it (from the mailbox file; its
// level's .imap from the level), before the index code creates it with
// its private 0700.
func (f *Folders) makeIndexDir(name, path, indexPath string) {
	dir := filepath.Dir(indexPath)
	if _, err := os.Stat(dir); err == nil {
		return
	}
	level := f.rootPerm()
	if !isInbox(name) {
		if i := strings.LastIndex(name, "/"); i > 0 {
			level = f.mailboxPerm(name[:i])
		}
	}
	if err := level.mkdirAll(filepath.Dir(dir)); err != nil {
		return
	}
	own, _ := permOf(path)
	own.mkdir(dir)
}

// allocUIDValidity hands out UIDVALIDITY values the way Dovecot does for a
// mail root: the current time, or one more than the last value handed out,
// kept in .imap/dovecot-uidvalidity (shared with real Dovecot, so the two
// never give the same value twice) with an empty marker file
// dovecot-uidvalidity.<hex>.
func (f *Folders) allocUIDValidity() uint32 {
	now := uint32(f.Opts.now().Unix())
	dir := filepath.Join(f.Root, ".imap")
	path := filepath.Join(dir, "dovecot-uidvalidity")
	next := now
	if b, err := os.ReadFile(path); err == nil {
		if last, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 32); err == nil && uint32(last) >= next {
			next = uint32(last) + 1
		}
	}
	pm := f.rootPerm()
	if err := pm.mkdirAll(dir); err == nil {
		hex := fmt.Sprintf("%08x", next)
		if writeFileAtomic(path, []byte(hex), pm) == nil {
			old, _ := filepath.Glob(path + ".*")
			for _, o := range old {
				os.Remove(o)
			}
			os.WriteFile(path+"."+hex, nil, 0o444)
		}
	}
	return next
}

// List returns every mailbox: INBOX, then the tree under Root in directory
// order, hiding only ".imap" and ".subscriptions" as Dovecot does.
func (f *Folders) List() ([]MailboxInfo, error) {
	out := []MailboxInfo{{Name: "INBOX", NoInferiors: false}}
	var walk func(dir, prefix string) error
	walk = func(dir, prefix string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("list %s: %w", dir, err)
		}
		for _, e := range ents {
			n := e.Name()
			if n == ".imap" || n == ".subscriptions" || strings.HasSuffix(n, ".lock") {
				continue
			}
			name := prefix + n
			if prefix == "" && isInbox(n) {
				continue
			}
			if e.IsDir() {
				kids, _ := os.ReadDir(filepath.Join(dir, n))
				has := slices.ContainsFunc(kids, func(k os.DirEntry) bool { return k.Name() != ".imap" })
				out = append(out, MailboxInfo{Name: name, NoSelect: true, HasChildren: has})
				if err := walk(filepath.Join(dir, n), name+"/"); err != nil {
					return err
				}
				continue
			}
			out = append(out, MailboxInfo{Name: name, NoInferiors: true})
		}
		return nil
	}
	if err := walk(f.Root, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// Create makes a mailbox: an empty file, or with a trailing "/" a
// directory; missing parent levels become directories. Modes and group
// follow Dovecot's rule (perm): from the closest existing parent level.
func (f *Folders) Create(name string) error {
	if isInbox(name) {
		return ErrExists
	}
	p, err := f.Path(name)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return ErrExists
	}
	pm := f.mailboxPerm(name)
	if err := pm.mkdirAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if strings.HasSuffix(name, "/") {
		if err := pm.mkdir(p); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		return nil
	}
	if err := pm.create(p); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// Delete removes a mailbox file and its control directory, or an empty
// directory.
func (f *Folders) Delete(name string) error {
	if isInbox(name) {
		return errors.New("INBOX can't be deleted")
	}
	p, err := f.Path(name)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return ErrNoMailbox
	}
	if fi.IsDir() {
		kids, _ := os.ReadDir(p)
		for _, k := range kids {
			if k.Name() != ".imap" {
				return ErrHasChildren
			}
		}
		if err := os.RemoveAll(filepath.Join(p, ".imap")); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		return os.Remove(p)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return os.RemoveAll(filepath.Join(filepath.Dir(p), ".imap", filepath.Base(p)))
}

// Rename renames a mailbox and its control directory. Like Dovecot it
// leaves .subscriptions alone.
func (f *Folders) Rename(from, to string) error {
	if isInbox(from) || isInbox(to) {
		return errors.New("renaming INBOX is not supported")
	}
	pf, err := f.Path(from)
	if err != nil {
		return err
	}
	pt, err := f.Path(to)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(pf); err != nil {
		return ErrNoMailbox
	}
	if _, err := os.Lstat(pt); err == nil {
		return ErrExists
	}
	if err := f.mailboxPerm(to).mkdirAll(filepath.Dir(pt)); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	if err := os.Rename(pf, pt); err != nil {
		return fmt.Errorf("rename %s: %w", from, err)
	}
	ctlFrom := filepath.Join(filepath.Dir(pf), ".imap", filepath.Base(pf))
	if _, err := os.Stat(ctlFrom); err == nil {
		ctlTo := filepath.Join(filepath.Dir(pt), ".imap", filepath.Base(pt))
		f.mailboxPerm(to).mkdirAll(filepath.Dir(ctlTo))
		if err := os.Rename(ctlFrom, ctlTo); err != nil {
			return fmt.Errorf("rename %s control dir: %w", from, err)
		}
	}
	return nil
}

// Subscriptions reads .subscriptions (Dovecot 2.3's "V 2" format, the
// hierarchy separator stored as TAB).
func (f *Folders) Subscriptions() ([]string, error) {
	fl, err := os.Open(filepath.Join(f.Root, ".subscriptions"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read subscriptions: %w", err)
	}
	defer fl.Close()
	var out []string
	sc := bufio.NewScanner(fl)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if strings.HasPrefix(line, "V\t") {
				continue // version header, then an empty line
			}
		}
		if line == "" {
			continue
		}
		out = append(out, strings.ReplaceAll(line, "\t", "/"))
	}
	return out, sc.Err()
}

// Subscribe adds (or with on false removes) a name in .subscriptions.
func (f *Folders) Subscribe(name string, on bool) error {
	subs, err := f.Subscriptions()
	if err != nil {
		return err
	}
	i := slices.Index(subs, name)
	switch {
	case on && i >= 0, !on && i < 0:
		return nil
	case on:
		subs = append(subs, name)
	default:
		subs = slices.Delete(subs, i, i+1)
	}
	var b strings.Builder
	b.WriteString("V\t2\n\n")
	for _, s := range subs {
		b.WriteString(strings.ReplaceAll(s, "/", "\t"))
		b.WriteByte('\n')
	}
	if err := defaultPerm.mkdirAll(f.Root); err != nil {
		return fmt.Errorf("write subscriptions: %w", err)
	}
	return writeFileAtomic(filepath.Join(f.Root, ".subscriptions"), []byte(b.String()), f.rootPerm())
}

// writeFileAtomic writes a small state file: temporary name, fsync,
// rename, fsync of the directory. The file gets pm's file mode and
// group.
func writeFileAtomic(path string, data []byte, pm perm) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		// A file's mode is its owner's to set whatever the umask.
		err = tmp.Chmod(fs.FileMode(pm.file))
	}
	if err == nil {
		err = pm.chgrp(tmp.Name())
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
