// SPDX-License-Identifier: MIT

package aliases

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Kind says how a Target is delivered.
type Kind int

// The kinds of delivery targets.
const (
	Mailbox Kind = iota // a local user's mailbox (the local mailer)
	Program             // |command (the prog mailer)
	File                // /path (appended to a file)
	Remote              // an address outside the local domains
)

// Target is one final recipient of an expansion.
type Target struct {
	Kind Kind
	// Addr is the user name (Mailbox), the command without "|"
	// (Program), the path (File) or the address (Remote).
	Addr string
	// Via is the alias, :include: file or .forward that produced it
	// ("" for the address as given).
	Via string
	// Owner is the owner-<list> alias that receives errors for this
	// target, if one exists (it also becomes the envelope sender).
	Owner string
	// Ctl is the controlling user of a program or file target,
	// sendmail's ctladdr: the owner (and group) of the ~/.forward or
	// :include: file the target came from, the first such file on the
	// way down. Nil for a target written in the aliases file itself,
	// which sendmail runs as DefaultUser.
	Ctl *Ctl
}

// Ctl is a controlling user: the uid and gid of the file that named a
// target, and the login name of that uid when known.
type Ctl struct {
	Name     string
	UID, GID int
}

// User is a local account as the expander needs it.
type User struct {
	Name string
	Home string
	// UID owns the user's .forward (root may own it too).
	UID int
}

// Expander resolves a local recipient as Sendmail does: aliases,
// :include: files, ~/.forward, and the passwd check. Its zero value is not
// usable: Lookup and LookupUser must be set.
type Expander struct {
	// Lookup finds an alias by lower-case name (text or .db AliasFiles,
	// tried in order by the caller).
	Lookup func(name string) (value string, ok bool, err error)
	// LookupUser finds a local user (pkg/shadowauth's passwd lookup).
	LookupUser func(name string) (User, bool, error)
	// IsLocal reports whether a domain is one of ours (class w); nil
	// means only addresses without a domain are local.
	IsLocal func(domain string) bool
	// ForwardPath is the cf's ForwardPath ("$z/.forward.$w:$z/.forward");
	// $z is the home directory, $w Hostname, $u the user. Nil means no
	// .forward files.
	ForwardPath []string
	// Hostname is $w.
	Hostname string
	// ReadFile reads :include: and .forward files; nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
	// MaxDepth is MaxAliasRecursion; 0 means Sendmail's 10.
	MaxDepth int
	// LookupUID finds the login name of a uid (the owner of a
	// :include: file); nil leaves such controlling users nameless.
	LookupUID func(uid int) (User, bool, error)
	// Stat returns the owner and group of a .forward or :include:
	// file; nil means the file system's.
	Stat func(path string) (uid, gid int, err error)
	// Virtuser looks a key up in the virtusertable
	// (FEATURE(virtusertable)); nil when the feature is off. Addresses
	// whose domain is local or a virtual host go through it first (see
	// VirtLookup), and a local result is then aliased.
	Virtuser func(key string) (value string, ok bool, err error)
	// IsVirtHost reports a domain of class {VirtHost}; nil means none.
	IsVirtHost func(domain string) bool
}

// ErrUserUnknown is the error of a local address that is neither an
// alias nor a user: Sendmail's "550 5.1.1 <x>... User unknown".
var ErrUserUnknown = errors.New("User unknown")

// ErrAliasLoop is Sendmail's error for an alias whose expansion ends in
// nothing but addresses already seen ("x: y" with "y: x").
var ErrAliasLoop = errors.New("aliasing/forwarding loop broken")

// LoopError is "aliasing/forwarding loop broken (11 aliases deep; 10 max)".
type LoopError struct{ Depth, Max int }

func (e *LoopError) Error() string {
	return fmt.Sprintf("aliasing/forwarding loop broken (%d aliases deep; %d max)", e.Depth, e.Max)
}

// Expand returns the final targets of addr. Duplicates are delivered
// once; an alias whose expansion names itself ("b: b, c") delivers to
// its own mailbox without being expanded again; "\user" goes to user's
// mailbox with no alias or .forward lookup; an address reached again
// through a longer loop is dropped as a duplicate, as in Sendmail, and an
// expansion left with nothing at all is ErrAliasLoop. Errors
// for individual targets (unknown users) are returned together with the
// targets that did resolve.
func (x *Expander) Expand(addr string) ([]Target, []error) {
	s := &expansion{x: x, seen: map[string]bool{}}
	s.expand(addr, "", "", nil, 0, nil)
	if len(s.out) == 0 && len(s.errs) == 0 && s.aliased {
		s.errs = append(s.errs, ErrAliasLoop)
	}
	return s.out, s.errs
}

type expansion struct {
	x       *Expander
	seen    map[string]bool
	out     []Target
	errs    []error
	aliased bool // some alias was expanded
}

func (s *expansion) add(t Target) {
	key := fmt.Sprintf("%d:%s", t.Kind, t.Addr)
	if t.Kind == Mailbox || t.Kind == Remote {
		key = fmt.Sprintf("%d:%s", t.Kind, strings.ToLower(t.Addr))
	}
	if s.seen["t:"+key] {
		return
	}
	s.seen["t:"+key] = true
	s.out = append(s.out, t)
}

func stripAngles(a string) string {
	a = strings.TrimSpace(a)
	// "Name <addr>" and "<addr>" forms.
	if i := strings.LastIndexByte(a, '<'); i >= 0 && strings.HasSuffix(a, ">") {
		a = a[i+1 : len(a)-1]
	}
	return strings.TrimSpace(a)
}

// expand resolves one address; chain holds the names being expanded
// above it.
func (s *expansion) expand(addr, via, owner string, chain []string, depth int, ctl *Ctl) {
	limit := s.x.MaxDepth
	if limit <= 0 {
		limit = 10
	}
	if depth > limit {
		s.errs = append(s.errs, &LoopError{Depth: depth, Max: limit})
		return
	}
	addr = stripAngles(addr)
	if addr == "" {
		return
	}
	switch {
	case strings.HasPrefix(addr, "|"):
		s.add(Target{Kind: Program, Addr: addr[1:], Via: via, Owner: owner, Ctl: ctl})
		return
	case strings.HasPrefix(addr, "\"|") && strings.HasSuffix(addr, "\"") && len(addr) > 2:
		s.add(Target{Kind: Program, Addr: addr[2 : len(addr)-1], Via: via, Owner: owner, Ctl: ctl})
		return
	case strings.HasPrefix(addr, "/"):
		s.add(Target{Kind: File, Addr: addr, Via: via, Owner: owner, Ctl: ctl})
		return
	case strings.HasPrefix(strings.ToLower(addr), ":include:"):
		s.include(strings.TrimSpace(addr[len(":include:"):]), owner, chain, depth, ctl)
		return
	}
	noAlias := strings.HasPrefix(addr, "\\")
	if noAlias {
		addr = addr[1:]
	}
	local := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		dom := strings.TrimSuffix(addr[i+1:], ".")
		if !noAlias && s.virtuser(addr[:i], dom, via, owner, chain, depth, ctl) {
			return
		}
		if s.x.IsLocal == nil || !s.x.IsLocal(dom) {
			s.add(Target{Kind: Remote, Addr: addr, Via: via, Owner: owner})
			return
		}
		local = addr[:i]
	}
	if n := len(local); n >= 2 && local[0] == '"' && local[n-1] == '"' {
		// The local mailer strips quotes (flag s): "a" is user a.
		local = local[1 : n-1]
	}
	name := strings.ToLower(local)
	if noAlias {
		// "\c" and "c" are the same recipient to Sendmail: once c is
		// delivered without expansion, a later "c" is a duplicate.
		s.seen["a:"+name] = true
		s.seen["f:"+name] = true
	} else {
		for _, c := range chain {
			if c == name {
				// Reached again through a loop: a duplicate.
				return
			}
		}
		if s.seen["a:"+name] {
			return
		}
		v, ok, err := s.x.Lookup(name)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("alias %s: %w", name, err))
			return
		}
		if ok {
			s.aliased = true
			s.seen["a:"+name] = true
			o := owner
			if _, ok, _ := s.x.Lookup("owner-" + name); ok {
				o = "owner-" + name
			}
			sub := append(chain[:len(chain):len(chain)], name)
			for _, m := range Split(v) {
				if strings.EqualFold(stripAngles(m), local) || strings.EqualFold(stripAngles(m), addr) {
					// "b: b, c": b's own mailbox.
					s.user(local, name, o, true, sub, depth+1, ctl)
					continue
				}
				s.expand(m, name, o, sub, depth+1, ctl)
			}
			return
		}
	}
	s.user(local, via, owner, noAlias, chain, depth, ctl)
}

// user delivers to a local user, through ~/.forward unless noForward.
func (s *expansion) user(name, via, owner string, noForward bool, chain []string, depth int, ctl *Ctl) {
	u, ok, err := s.x.LookupUser(name)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("user %s: %w", name, err))
		return
	}
	if !ok {
		s.errs = append(s.errs, fmt.Errorf("%s... %w", name, ErrUserUnknown))
		return
	}
	if !noForward && !s.seen["f:"+u.Name] {
		s.seen["f:"+u.Name] = true
		if content, path := s.forward(u); path != "" {
			sub := append(chain[:len(chain):len(chain)], strings.ToLower(u.Name))
			fctl := s.fileCtl(ctl, path, u.Name)
			for _, m := range forwardLines(content) {
				if strings.EqualFold(strings.TrimPrefix(stripAngles(m), "\\"), u.Name) {
					s.add(Target{Kind: Mailbox, Addr: u.Name, Via: path, Owner: owner})
					continue
				}
				s.expand(m, path, owner, sub, depth+1, fctl)
			}
			return
		}
	}
	s.add(Target{Kind: Mailbox, Addr: u.Name, Via: via, Owner: owner})
}

func (s *expansion) read(path string) ([]byte, error) {
	if s.x.ReadFile != nil {
		return s.x.ReadFile(path)
	}
	return os.ReadFile(path)
}

// forward returns the first ForwardPath file that exists for u and is
// safe: Sendmail ignores a .forward that is not a regular file, is owned
// by someone other than the user or root, or is group- or
// world-writable. (A ReadFile hook replaces these checks.)
func (s *expansion) forward(u User) ([]byte, string) {
	for _, p := range s.x.ForwardPath {
		p = strings.NewReplacer("$z", u.Home, "$w", s.x.Hostname, "$u", u.Name, "$h", "").Replace(p)
		if strings.HasSuffix(p, "+") {
			continue // a +detail form without a detail
		}
		if s.x.ReadFile == nil && !safeForward(p, u.UID) {
			continue
		}
		if b, err := s.read(p); err == nil {
			return b, p
		}
	}
	return nil, ""
}

func safeForward(path string, uid int) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (int(st.Uid) == uid || st.Uid == 0)
}

func (s *expansion) include(path, owner string, chain []string, depth int, ctl *Ctl) {
	b, err := s.read(path)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf(":include:%s: %w", path, err))
		return
	}
	ictl := s.fileCtl(ctl, path, "")
	for _, m := range forwardLines(b) {
		s.expand(m, ":include:"+path, owner, chain, depth+1, ictl)
	}
}

// fileCtl is the controlling user below a .forward or :include: file, as
// sendmail's include() sets it: an address that already has one keeps
// it, otherwise the file's owner and group become it. name is the
// owner's login name when the caller knows it; otherwise LookupUID
// finds it (a uid without a passwd entry stays nameless).
func (s *expansion) fileCtl(ctl *Ctl, path, name string) *Ctl {
	if ctl != nil {
		return ctl
	}
	stat := s.x.Stat
	if stat == nil {
		stat = fileOwner
	}
	uid, gid, err := stat(path)
	if err != nil {
		return nil
	}
	c := &Ctl{Name: name, UID: uid, GID: gid}
	if s.x.LookupUID != nil {
		if u, ok, err := s.x.LookupUID(uid); err == nil && ok {
			c.Name = u.Name
		}
	}
	return c
}

// fileOwner returns the owner and group of path.
func fileOwner(path string) (uid, gid int, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("stat %s: no owner", path)
	}
	return int(st.Uid), int(st.Gid), nil
}

// forwardLines splits a .forward or :include: file: one or more addresses
// per line, lines starting with # are comments.
func forwardLines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		out = append(out, Split(l)...)
	}
	return out
}

// Exists reports whether user (a local name, lower case) can receive
// mail: it expands to at least one target. Unknown users and loops are
// (false, nil); a failing lookup is an error, a temporary failure. It
// implements internal/smtpd's Recipients.
func (x *Expander) Exists(_ context.Context, user string) (bool, error) {
	targets, errs := x.Expand(user)
	if len(targets) > 0 {
		return true, nil
	}
	for _, err := range errs {
		var loop *LoopError
		if errors.Is(err, ErrUserUnknown) || errors.Is(err, ErrAliasLoop) || errors.As(err, &loop) {
			continue
		}
		return false, err
	}
	return false, nil
}
