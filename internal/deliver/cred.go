// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"mailsuite/pkg/cf"
	"mailsuite/pkg/shadowauth"
)

// Controller is the user that controls a program or file recipient,
// sendmail's ctladdr (internal/aliases' Ctl): the owner of the .forward
// or :include: file that named it.
type Controller struct {
	Name     string
	UID, GID int
}

// Users names the account files MailerCredential reads.
type Users struct {
	// Passwd and Group are the passwd and group files; empty means
	// shadowauth.DefaultPaths().Passwd and /etc/group.
	Passwd, Group string
}

// MailerCredential returns the credentials sendmail's openmailer gives
// the child that runs mailer m (a program, or the *file* mailer writing
// a file) for a recipient controlled by ctl (nil: none), when sendmail
// runs as root:
//
//   - F=S keeps root's ids (or takes the mailer's U= user): nil;
//   - otherwise the uid is ctl's when ctl has a uid other than 0, else
//     U='s, else DefaultUser's; the gid is ctl's when ctl has a gid other
//     than 0 (with ctl's supplementary groups, initgroups), else U='s
//     group or DefaultUser's (with DefaultUser's groups).
//
// defaultUser is the cf's DefaultUser option as written (empty: the
// first of mailnull, sendmail and daemon in the passwd file, else 1:1).
// The result is nil too when this process is not root: it then cannot
// change ids and runs every mailer as itself.
func MailerCredential(m *cf.Mailer, ctl *Controller, defaultUser string, u Users) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	if u.Passwd == "" {
		u.Passwd = shadowauth.DefaultPaths().Passwd
	}
	if u.Group == "" {
		u.Group = "/etc/group"
	}
	specific := m != nil && strings.IndexByte(m.Flags, 'S') >= 0
	mUID, mGID, hasU := -1, -1, false
	if m != nil && m.User != "" {
		mUID, mGID, hasU = resolveUser(m.User, u)
	}
	if specific {
		if !hasU {
			return nil
		}
		return &syscall.Credential{Uid: uint32(mUID), Gid: uint32(mGID), Groups: []uint32{uint32(mGID)}}
	}
	defName, defUID, defGID := defaultIDs(defaultUser, u)
	c := &syscall.Credential{}
	switch {
	case ctl != nil && ctl.UID != 0:
		c.Uid = uint32(ctl.UID)
	case hasU:
		c.Uid = uint32(mUID)
	default:
		c.Uid = uint32(defUID)
	}
	switch {
	case ctl != nil && ctl.GID != 0:
		c.Gid = uint32(ctl.GID)
		c.Groups = groupsOf(ctl.Name, ctl.GID, u.Group)
	default:
		c.Gid = uint32(defGID)
		if hasU {
			c.Gid = uint32(mGID)
		}
		c.Groups = groupsOf(defName, defGID, u.Group)
	}
	return c
}

// resolveUser reads "user", "user:group", "uid" or "uid:gid" (U= and
// DefaultUser); a user name alone brings its passwd group.
func resolveUser(spec string, u Users) (uid, gid int, ok bool) {
	name, group, hasGroup := strings.Cut(spec, ":")
	uid, gid = -1, -1
	if n, err := strconv.Atoi(name); err == nil {
		uid = n
	} else if pw, err := shadowauth.LookupUser(u.Passwd, name); err == nil {
		uid, gid = pw.UID, pw.GID
	} else {
		return 0, 0, false
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else if g, ok := lookupGroup(u.Group, group); ok {
			gid = g
		} else {
			return 0, 0, false
		}
	}
	if gid < 0 {
		if pw, err := shadowauth.LookupUID(u.Passwd, uid); err == nil {
			gid = pw.GID
		} else {
			gid = uid
		}
	}
	return uid, gid, true
}

// defaultIDs is DefaultUser: as the cf says, else sendmail's choice.
func defaultIDs(spec string, u Users) (name string, uid, gid int) {
	if spec != "" {
		if uid, gid, ok := resolveUser(spec, u); ok {
			if pw, err := shadowauth.LookupUID(u.Passwd, uid); err == nil {
				name = pw.Name
			}
			return name, uid, gid
		}
	}
	for _, n := range []string{"mailnull", "sendmail", "daemon"} {
		if pw, err := shadowauth.LookupUser(u.Passwd, n); err == nil {
			return pw.Name, pw.UID, pw.GID
		}
	}
	return "", 1, 1
}

// groupsOf is initgroups(name, gid): gid and every group of the group
// file that lists name as a member.
func groupsOf(name string, gid int, groupFile string) []uint32 {
	out := []uint32{uint32(gid)}
	if name == "" {
		return out
	}
	f, err := os.Open(groupFile)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 {
			continue
		}
		g, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(fields[3], ","), name) && !slices.Contains(out, uint32(g)) {
			out = append(out, uint32(g))
		}
	}
	return out
}

func lookupGroup(groupFile, name string) (int, bool) {
	f, err := os.Open(groupFile)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			if g, err := strconv.Atoi(fields[2]); err == nil {
				return g, true
			}
		}
	}
	return 0, false
}
