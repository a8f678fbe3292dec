// SPDX-License-Identifier: MIT

package accessdb

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"mailsuite/internal/safefile"
	"mailsuite/pkg/bdb"
)

// Map is a key/value map as Sendmail's K maps present it to the rulesets.
// Lookup receives the key as the rules build it ("Connect:10.1.2.3", in
// the case the client used); folding case and any other storage detail
// are the implementation's business. A non-nil error is a temporary
// failure of the map.
type Map interface {
	Lookup(key string) (value string, ok bool, err error)
}

// MemMap is an in-memory Map with Sendmail's default key rule: keys are
// compared without regard to ASCII case. The zero value is an empty map.
type MemMap struct {
	m map[string]string
}

// NewMemMap returns a MemMap holding entries, whose keys are folded to
// lower case as makemap folds them.
func NewMemMap(entries map[string]string) *MemMap {
	m := &MemMap{m: make(map[string]string, len(entries))}
	for k, v := range entries {
		m.m[lowerASCII(k)] = v
	}
	return m
}

// Lookup implements Map.
func (m *MemMap) Lookup(key string) (string, bool, error) {
	v, ok := m.m[lowerASCII(truncKey(key))]
	return v, ok, nil
}

// maxKey is MAXNAME: sendmail copies a lookup key into a buffer of
// MAXNAME+1 bytes, so longer keys are cut to 256 bytes (and a stored key
// longer than that can never be found).
const maxKey = 256

func truncKey(k string) string {
	if len(k) > maxKey {
		return k[:maxKey]
	}
	return k
}

// lowerASCII folds A-Z only, like sendmail's makelower on a C locale;
// UTF-8 bytes are left alone (makemap does not fold them either).
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// DBOptions are the K-line flags of a hash or btree map that change how
// keys are looked up and values returned. The zero value is a plain
// "Kname hash path".
type DBOptions struct {
	// NoFoldCase is -f: keys keep their case.
	NoFoldCase bool
	// IncludeNull is -N: keys are stored with a trailing NUL; only that
	// form is tried.
	IncludeNull bool
	// NoTryNull is -O: the form with a trailing NUL is not tried. With
	// both -N and -O nothing is tried, as in sendmail.
	NoTryNull bool
	// Optional is -o: a missing map file is not an error; every lookup
	// then finds nothing.
	Optional bool
	// MatchOnly is -m: a hit returns the key, not the value.
	MatchOnly bool
	// Append is -a: appended to every value found.
	Append string
	// DontBlameSendmail are the cf's DontBlameSendmail flags; of them
	// TrustStickyBit, GroupWritableDirPathSafe and MapInUnsafeDirPath
	// relax the directory check OpenDB makes (any case).
	DontBlameSendmail []string
}

// ErrUnsafe is wrapped by OpenDB's error for a map file in a directory
// that others can write to, which sendmail refuses to read
// ("unsafe map file /etc/mail/access.db: World writable directory").
var ErrUnsafe = errors.New("unsafe map file")

// unsafeDir applies sendmail's safefile rule for map files to the
// directories from / down to the one holding path: none may be
// world-writable (unless sticky with TrustStickyBit) or group-writable
// (unless GroupWritableDirPathSafe); MapInUnsafeDirPath allows both.
func unsafeDir(path string, dbs []string) string {
	f := safefile.NewFlags(dbs)
	if f.Has("mapinunsafedirpath") {
		return ""
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	return safefile.UnsafeDir(filepath.Dir(abs), "/", f)
}

// DBMap is a Map over a Berkeley DB file made by makemap, read with
// pkg/bdb, with the key rules of sendmail's db_map_lookup: the key is cut
// to 256 bytes and lowercased (unless NoFoldCase), tried without and then
// with a trailing NUL, and the first value of a duplicate set is returned,
// cut at its first NUL. As in sendmail, once a form has hit, the other
// form is no longer tried for this map. When the file is replaced (a new
// makemap run), the next lookup reopens it. A file in a directory others
// may write to is refused (ErrUnsafe), as sendmail refuses it.
type DBMap struct {
	path string // the file opened, with ".db"
	opts DBOptions

	mu sync.Mutex
	db *bdb.DB // nil: optional map whose file is missing

	try0, try1 atomic.Bool
}

// OpenDB opens the map file of a K line. Like sendmail, it appends ".db"
// to path unless path already ends in it.
func OpenDB(path string, opts DBOptions) (*DBMap, error) {
	if !strings.HasSuffix(path, ".db") {
		path += ".db"
	}
	m := &DBMap{path: path, opts: opts}
	m.try0.Store(!opts.IncludeNull)
	m.try1.Store(!opts.NoTryNull)
	if msg := unsafeDir(path, opts.DontBlameSendmail); msg != "" {
		return nil, fmt.Errorf("%w %s: %s", ErrUnsafe, path, msg)
	}
	db, err := bdb.Open(path)
	if err != nil {
		if opts.Optional && errors.Is(err, fs.ErrNotExist) {
			return m, nil
		}
		return nil, fmt.Errorf("open map %s: %w", path, err)
	}
	m.db = db
	return m, nil
}

// NewDBMap wraps an open database; the map never reopens it.
func NewDBMap(db *bdb.DB, opts DBOptions) *DBMap {
	m := &DBMap{db: db, opts: opts}
	m.try0.Store(!opts.IncludeNull)
	m.try1.Store(!opts.NoTryNull)
	return m
}

// Lookup implements Map.
func (m *DBMap) Lookup(key string) (string, bool, error) {
	// The lock covers the whole lookup so that a reopen by another
	// goroutine cannot close the file under this one.
	m.mu.Lock()
	defer m.mu.Unlock()
	db, err := m.current()
	if err != nil || db == nil {
		return "", false, err
	}
	k := truncKey(key)
	if !m.opts.NoFoldCase {
		k = lowerASCII(k)
	}
	var (
		val []byte
		ok  bool
	)
	if m.try0.Load() {
		val, ok, err = db.Get([]byte(k))
		if err != nil {
			return "", false, fmt.Errorf("map %s: %w", m.path, err)
		}
		if ok {
			m.try1.Store(false)
		}
	}
	if !ok && m.try1.Load() {
		val, ok, err = db.Get([]byte(k + "\x00"))
		if err != nil {
			return "", false, fmt.Errorf("map %s: %w", m.path, err)
		}
		if ok {
			m.try0.Store(false)
		}
	}
	if !ok {
		return "", false, nil
	}
	if m.opts.MatchOnly {
		return key + m.opts.Append, true, nil
	}
	v := string(val)
	if i := strings.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return v + m.opts.Append, true, nil
}

// current returns the open database, reopening the file first when a
// new makemap run has replaced it, as sendmail does before each lookup.
// The caller holds m.mu.
func (m *DBMap) current() (*bdb.DB, error) {
	if m.path == "" {
		return m.db, nil
	}
	if m.db != nil && !m.db.Changed() {
		return m.db, nil
	}
	if msg := unsafeDir(m.path, m.opts.DontBlameSendmail); msg != "" {
		return nil, fmt.Errorf("%w %s: %s", ErrUnsafe, m.path, msg)
	}
	db, err := bdb.Open(m.path)
	if err != nil {
		if m.opts.Optional && errors.Is(err, fs.ErrNotExist) {
			if m.db != nil {
				m.db.Close()
				m.db = nil
			}
			return nil, nil
		}
		return nil, fmt.Errorf("reopen map %s: %w", m.path, err)
	}
	if m.db != nil {
		m.db.Close()
	}
	m.db = db
	return db, nil
}

// Close releases the database file.
func (m *DBMap) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db == nil {
		return nil
	}
	err := m.db.Close()
	m.db = nil
	return err
}
