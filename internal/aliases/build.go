// SPDX-License-Identifier: MIT

package aliases

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/bdb"
)

// Stats are the figures newaliases prints: the number of entries stored
// (a duplicate counts again), the longest value and the total of name and
// value lengths.
type Stats struct {
	Aliases, Longest, Total int
}

// String is Sendmail's summary, without the file name:
// "11 aliases, longest 10 bytes, 113 bytes total".
func (s Stats) String() string {
	return fmt.Sprintf("%d aliases, longest %d bytes, %d bytes total", s.Aliases, s.Longest, s.Total)
}

// Build parses the aliases file src and writes src+".db" the way
// Sendmail's newaliases does: a Berkeley DB hash whose keys and values
// carry a trailing NUL, the later of duplicate names winning, plus the
// "@" → "@" record that marks a complete rebuild. The file is written
// under a temporary name, fsynced and renamed, mode 0640. Problems in
// src are returned with the stats; entries with errors are left out, as
// Sendmail does.
func Build(src string) (Stats, []*Error, error) {
	f, err := os.Open(src)
	if err != nil {
		return Stats{}, nil, fmt.Errorf("open %s: %w", src, err)
	}
	defer f.Close()
	entries, perrs := Parse(f, src)
	w := bdb.NewWriter(bdb.Hash, bdb.WriterOptions{})
	var st Stats
	for _, a := range entries {
		w.Replace(nulTerm(a.Name), nulTerm(a.Value))
		st.Aliases++
		st.Longest = max(st.Longest, len(a.Value))
		st.Total += len(a.Name) + len(a.Value)
	}
	w.Replace([]byte("@\x00"), []byte("@\x00"))
	if err := writeAtomic(src+".db", w); err != nil {
		return st, perrs, err
	}
	return st, perrs, nil
}

func nulTerm(s string) []byte { return append([]byte(s), 0) }

func writeAtomic(path string, w *bdb.Writer) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := w.WriteTo(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o640); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Newaliases is "newaliases" / "sendmail -bi": it rebuilds the .db of
// every file in files (the cf's AliasFile list; "hash:" and other class
// prefixes are removed), prints Sendmail's lines on stdout (each problem,
// then "<file>: N aliases, longest N bytes, N bytes total"), logs
// "alias database <file> rebuilt by <by>" and the summary when log is not
// nil, and returns the exit status: 0, or 70 (EX_SOFTWARE) when a file
// had errors. A file that cannot be opened is reported on stderr
// ("newaliases: cannot open /etc/aliases: No such file or directory")
// and, as in Sendmail, does not change the exit status; a database that
// cannot be written gives 73 (EX_CANTCREAT).
func Newaliases(files []string, stdout, stderr io.Writer, log *maillog.Logger, by string) int {
	code := 0
	for _, spec := range files {
		path := spec
		if i := indexClass(spec); i >= 0 {
			path = spec[i+1:]
		}
		if f, err := os.Open(path); err != nil {
			fmt.Fprintf(stderr, "newaliases: cannot open %s: %s\n", path, errnoText(err))
			continue
		} else {
			f.Close()
		}
		st, perrs, err := Build(path)
		for _, e := range perrs {
			fmt.Fprintln(stdout, e.Error())
			if !e.Warning {
				code = max(code, 70)
			}
		}
		if err != nil {
			fmt.Fprintf(stdout, "newaliases: %v\n", err)
			code = 73
			continue
		}
		if log != nil {
			log.AliasRebuilt(path, by)
			log.AliasStats(path, st.Aliases, st.Longest, st.Total)
		}
		fmt.Fprintf(stdout, "%s: %s\n", path, st)
	}
	return code
}

// errnoText is strerror's text for the errno inside err ("No such file or
// directory"), as Sendmail prints it.
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		t := errno.Error()
		if t != "" {
			return strings.ToUpper(t[:1]) + t[1:]
		}
	}
	return err.Error()
}

// indexClass finds the ':' of a "hash:/etc/aliases" style map class.
func indexClass(spec string) int {
	for i := 0; i < len(spec); i++ {
		switch spec[i] {
		case '/':
			return -1
		case ':':
			return i
		}
	}
	return -1
}

// DB is an aliases.db opened for lookups.
type DB struct{ db *bdb.DB }

// OpenDB opens an aliases database written by Build or by Sendmail.
func OpenDB(path string) (*DB, error) {
	db, err := bdb.Open(path)
	if err != nil {
		return nil, err
	}
	return &DB{db: db}, nil
}

// Lookup finds name (lower-cased by the caller), trying the key with a
// trailing NUL first, as Sendmail's own files have it, then without.
func (d *DB) Lookup(name string) (string, bool, error) {
	for _, k := range [][]byte{nulTerm(name), []byte(name)} {
		v, ok, err := d.db.Get(k)
		if err != nil {
			return "", false, err
		}
		if ok {
			if n := len(v); n > 0 && v[n-1] == 0 {
				v = v[:n-1]
			}
			return string(v), true, nil
		}
	}
	return "", false, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Maps looks names up in the databases of several AliasFiles, in order,
// as Sendmail does: the first file that has the name wins.
type Maps []*DB

// OpenMaps opens <file>.db for every AliasFile spec ("hash:" and other
// class prefixes removed).
func OpenMaps(specs []string) (Maps, error) {
	var m Maps
	for _, spec := range specs {
		path := spec
		if i := indexClass(spec); i >= 0 {
			path = spec[i+1:]
		}
		db, err := OpenDB(path + ".db")
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("open alias database %s: %w", path, err)
		}
		m = append(m, db)
	}
	return m, nil
}

// Lookup finds name in the first database that has it.
func (m Maps) Lookup(name string) (string, bool, error) {
	for _, db := range m {
		v, ok, err := db.Lookup(name)
		if err != nil || ok {
			return v, ok, err
		}
	}
	return "", false, nil
}

// Close closes every database.
func (m Maps) Close() error {
	var first error
	for _, db := range m {
		if err := db.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
