// SPDX-License-Identifier: MIT

package shadowauth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Paths names the passwd and shadow files to read.
type Paths struct {
	Passwd string
	Shadow string
}

// DefaultPaths returns the files every mailsuite program reads users
// from: $MAILSUITE_PASSWD and $MAILSUITE_SHADOW when set, else
// /etc/passwd and /etc/shadow.
func DefaultPaths() Paths {
	p := Paths{Passwd: "/etc/passwd", Shadow: "/etc/shadow"}
	if v := os.Getenv("MAILSUITE_PASSWD"); v != "" {
		p.Passwd = v
	}
	if v := os.Getenv("MAILSUITE_SHADOW"); v != "" {
		p.Shadow = v
	}
	return p
}

// User is one passwd(5) entry.
type User struct {
	Name  string
	UID   int
	GID   int
	Gecos string
	Home  string
	Shell string
	// Password is the passwd file's second field: "x" when the hash is
	// in the shadow file.
	Password string
}

// Shadow is one shadow(5) entry. Numeric fields hold -1 when empty.
type Shadow struct {
	Name       string
	Hash       string
	LastChange int // days since 1970-01-01; 0 = must change at next login
	Min        int
	Max        int
	Warn       int
	Inactive   int
	Expire     int // days since 1970-01-01 when the account expires
}

// ErrNotFound is returned when a user has no entry.
var ErrNotFound = errors.New("no such user")

// ParsePasswdLine parses one passwd(5) line.
func ParsePasswdLine(line string) (User, error) {
	f := strings.Split(line, ":")
	if len(f) != 7 {
		return User{}, fmt.Errorf("passwd line has %d fields, want 7", len(f))
	}
	if f[0] == "" {
		return User{}, errors.New("passwd line has an empty user name")
	}
	uid, err := strconv.Atoi(f[2])
	if err != nil || uid < 0 {
		return User{}, fmt.Errorf("user %s: bad uid %q", f[0], f[2])
	}
	gid, err := strconv.Atoi(f[3])
	if err != nil || gid < 0 {
		return User{}, fmt.Errorf("user %s: bad gid %q", f[0], f[3])
	}
	return User{Name: f[0], Password: f[1], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]}, nil
}

// ParseShadowLine parses one shadow(5) line.
func ParseShadowLine(line string) (Shadow, error) {
	f := strings.Split(line, ":")
	if len(f) != 9 {
		return Shadow{}, fmt.Errorf("shadow line has %d fields, want 9", len(f))
	}
	if f[0] == "" {
		return Shadow{}, errors.New("shadow line has an empty user name")
	}
	s := Shadow{Name: f[0], Hash: f[1]}
	for i, dst := range []*int{&s.LastChange, &s.Min, &s.Max, &s.Warn, &s.Inactive, &s.Expire} {
		v := f[2+i]
		if v == "" {
			*dst = -1
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return Shadow{}, fmt.Errorf("user %s: bad shadow field %d %q", f[0], 3+i, v)
		}
		*dst = n
	}
	return s, nil
}

// scanFile calls fn for every non-empty, non-comment line of path with
// its 1-based number, stopping when fn returns true.
func scanFile(path string, fn func(n int, line string) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return scanLines(f, fn)
}

func scanLines(r io.Reader, fn func(n int, line string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if fn(n, line) {
			return nil
		}
	}
	return sc.Err()
}

// LookupUser finds name in the passwd file at path. Malformed lines are
// skipped, as getpwnam(3) skips them.
func LookupUser(path, name string) (User, error) {
	var u User
	found := false
	err := scanFile(path, func(_ int, line string) bool {
		if !strings.HasPrefix(line, name+":") {
			return false
		}
		pu, err := ParsePasswdLine(line)
		if err != nil {
			return false
		}
		u, found = pu, true
		return true
	})
	if err != nil {
		return User{}, err
	}
	if !found {
		return User{}, ErrNotFound
	}
	return u, nil
}

// LookupUID finds the first passwd entry with the given uid.
func LookupUID(path string, uid int) (User, error) {
	var u User
	found := false
	err := scanFile(path, func(_ int, line string) bool {
		pu, err := ParsePasswdLine(line)
		if err != nil || pu.UID != uid {
			return false
		}
		u, found = pu, true
		return true
	})
	if err != nil {
		return User{}, err
	}
	if !found {
		return User{}, ErrNotFound
	}
	return u, nil
}

// LookupShadow finds name in the shadow file at path.
func LookupShadow(path, name string) (Shadow, error) {
	var s Shadow
	found := false
	err := scanFile(path, func(_ int, line string) bool {
		if !strings.HasPrefix(line, name+":") {
			return false
		}
		ps, err := ParseShadowLine(line)
		if err != nil {
			return false
		}
		s, found = ps, true
		return true
	})
	if err != nil {
		return Shadow{}, err
	}
	if !found {
		return Shadow{}, ErrNotFound
	}
	return s, nil
}
