// SPDX-License-Identifier: MIT

package shadowauth

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// PasswdFileEntry is one line of a Dovecot passwd-file:
// user:password:uid:gid:gecos:home:shell:extra_fields. Fields after the
// password may be missing.
type PasswdFileEntry struct {
	User     string
	Password string
	UID      string
	GID      string
	Gecos    string
	Home     string
	Shell    string
	// Extra holds the space-separated extra fields in file order, each
	// "key=value" or a bare "key".
	Extra []string
}

// ParsePasswdFileLine parses one passwd-file line (not a comment).
func ParsePasswdFileLine(line string) (PasswdFileEntry, error) {
	f := strings.SplitN(line, ":", 8)
	if f[0] == "" {
		return PasswdFileEntry{}, fmt.Errorf("empty user name")
	}
	e := PasswdFileEntry{User: f[0]}
	dst := []*string{&e.Password, &e.UID, &e.GID, &e.Gecos, &e.Home, &e.Shell}
	for i := 1; i < len(f) && i <= len(dst); i++ {
		*dst[i-1] = f[i]
	}
	if len(f) == 8 {
		e.Extra = strings.Fields(f[7])
	}
	return e, nil
}

// ExtraField returns the value of extra field key ("yes" for a bare key
// or an empty value, as Dovecot gives it) and whether it is present.
func (e PasswdFileEntry) ExtraField(key string) (string, bool) {
	for _, f := range e.Extra {
		k, v, ok := strings.Cut(f, "=")
		if k != key {
			continue
		}
		if !ok || v == "" {
			return "yes", true
		}
		return v, true
	}
	return "", false
}

// PasswdFile is a Dovecot passwd-file, re-read whenever it changes on
// disk, as Dovecot does, so no reload is needed after an edit.
type PasswdFile struct {
	Path string
	// DefaultScheme is the passdb's scheme= argument ("CRYPT" if empty).
	DefaultScheme string

	mu      sync.Mutex
	mtime   time.Time
	size    int64
	ino     uint64
	entries map[string]PasswdFileEntry
}

// Lookup returns the entry for user.
func (p *PasswdFile) Lookup(user string) (PasswdFileEntry, error) {
	if err := p.refresh(); err != nil {
		return PasswdFileEntry{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[user]
	if !ok {
		return PasswdFileEntry{}, ErrNotFound
	}
	return e, nil
}

// Authenticate checks user's password against the file.
func (p *PasswdFile) Authenticate(user, password string) (PasswdFileEntry, error) {
	e, err := p.Lookup(user)
	if err != nil {
		return PasswdFileEntry{}, err
	}
	if err := VerifyScheme(e.Password, password, p.DefaultScheme); err != nil {
		return PasswdFileEntry{}, err
	}
	return e, nil
}

func (p *PasswdFile) refresh() error {
	fi, err := os.Stat(p.Path)
	if err != nil {
		return err
	}
	ino := inode(fi)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries != nil && fi.ModTime().Equal(p.mtime) && fi.Size() == p.size && ino == p.ino {
		return nil
	}
	data, err := os.ReadFile(p.Path)
	if err != nil {
		return err
	}
	entries := make(map[string]PasswdFileEntry)
	var perr error
	scanLines(bytes.NewReader(data), func(n int, line string) bool {
		e, err := ParsePasswdFileLine(line)
		if err != nil {
			perr = fmt.Errorf("%s: line %d: %w", p.Path, n, err)
			return true
		}
		if _, dup := entries[e.User]; !dup {
			entries[e.User] = e
		}
		return false
	})
	if perr != nil {
		return perr
	}
	p.entries, p.mtime, p.size, p.ino = entries, fi.ModTime(), fi.Size(), ino
	return nil
}
