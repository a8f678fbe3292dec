// SPDX-License-Identifier: MIT

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailsuite/internal/dovecotauth"
	"mailsuite/internal/imapd"
	"mailsuite/internal/pop3d"
	"mailsuite/internal/privsep"
	"mailsuite/pkg/doveconf"
	"mailsuite/pkg/mbox"
)

// workerFlag is the hidden first argument that makes dovecotd a mail
// worker (internal/privsep): started by dovecotd itself, as a user.
const workerFlag = "--mail-worker"

// workerHello is what a mail worker is told at start: the settings its
// sessions need (it reads no configuration file, which the user may not
// be able to read) and where its log lines go.
type workerHello struct {
	IMAP imapMail `json:"imap"`
	POP3 pop3Mail `json:"pop3"`
	Log  logSpec  `json:"log"`
}

type imapMail struct {
	MailLocation string             `json:"mail_location"`
	Mailboxes    []doveconf.Mailbox `json:"mailboxes,omitempty"`
	IdleNotify   time.Duration      `json:"idle_notify"`
	Lock         lockSpec           `json:"lock"`
}

type pop3Mail struct {
	MailLocation  string        `json:"mail_location"`
	Lock          lockSpec      `json:"lock"`
	Hostname      string        `json:"hostname,omitempty"`
	UIDLFormat    string        `json:"uidl_format,omitempty"`
	NoFlagUpdates bool          `json:"no_flag_updates,omitempty"`
	LockSession   bool          `json:"lock_session,omitempty"`
	DeleteType    string        `json:"delete_type,omitempty"`
	DeletedFlag   string        `json:"deleted_flag,omitempty"`
	LogoutFormat  string        `json:"logout_format,omitempty"`
	IdleTimeout   time.Duration `json:"idle_timeout,omitempty"`
}

type lockSpec struct {
	Timeout              time.Duration `json:"timeout"`
	DotlockChangeTimeout time.Duration `json:"dotlock_change_timeout"`
	NoDotlock            bool          `json:"no_dotlock,omitempty"`
	Hostname             string        `json:"hostname,omitempty"`
}

func lockSpecOf(o mbox.LockOptions) lockSpec {
	return lockSpec{o.Timeout, o.DotlockChangeTimeout, o.NoDotlock, o.Hostname}
}

func (l lockSpec) options() mbox.LockOptions {
	return mbox.LockOptions{Timeout: l.Timeout, DotlockChangeTimeout: l.DotlockChangeTimeout, NoDotlock: l.NoDotlock, Hostname: l.Hostname}
}

// logSpec names the worker's log destination: "syslog", "stderr", or
// "fd" (the log_path file the root process opened, fd 4).
type logSpec struct {
	Dest  string `json:"dest"`
	Ident string `json:"ident"`
}

// logFD is the log_path descriptor in a worker (ExtraFiles[1]).
const logFD = 4

// sessionMsg is one session handed to a worker.
type sessionMsg struct {
	IMAP *imapd.Handoff `json:"imap,omitempty"`
	POP3 *pop3d.Handoff `json:"pop3,omitempty"`
}

// separator hands logged-in sessions to mail workers running as their
// users; dovecotd uses it when started as root.
type separator struct {
	gids      dovecotauth.GIDRange // first/last_valid_gid
	pool      *privsep.Pool
	privGroup int // mail_privileged_group's gid, -1 when unset
	wg        sync.WaitGroup

	logPath string   // log_path when it is a file
	logFile *os.File // its descriptor for new workers
}

// newSeparator prepares the worker pool. logPath is log_path ("" for
// syslog).
func newSeparator(set *doveconf.Settings, gids dovecotauth.GIDRange, icfg imapd.Config, pcfg pop3d.Config, ident, logPath string, stderr *os.File) (*separator, error) {
	hello := workerHello{
		IMAP: imapMail{MailLocation: icfg.MailLocation, Mailboxes: icfg.Mailboxes, IdleNotify: icfg.IdleNotify, Lock: lockSpecOf(icfg.Lock)},
		POP3: pop3Mail{MailLocation: pcfg.MailLocation, Lock: lockSpecOf(pcfg.Lock), Hostname: pcfg.Hostname, UIDLFormat: pcfg.UIDLFormat,
			NoFlagUpdates: pcfg.NoFlagUpdates, LockSession: pcfg.LockSession, DeleteType: pcfg.DeleteType, DeletedFlag: pcfg.DeletedFlag,
			LogoutFormat: pcfg.LogoutFormat, IdleTimeout: pcfg.IdleTimeout},
		Log: logSpec{Dest: "syslog", Ident: ident},
	}
	sep := &separator{privGroup: -1, gids: gids}
	var files []*os.File
	switch logPath {
	case "", "syslog":
	case "-", "stderr", "/dev/stderr":
		hello.Log.Dest = "stderr"
	default:
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, fmt.Errorf("open log %s: %w", logPath, err)
		}
		files = append(files, f)
		hello.Log.Dest = "fd"
		sep.logPath, sep.logFile = logPath, f
	}
	if g := set.MailPrivilegedGroup; g != "" {
		gid, err := lookupGroup(g)
		if err != nil {
			return nil, fmt.Errorf("mail_privileged_group: %w", err)
		}
		sep.privGroup = gid
	}
	b, err := json.Marshal(hello)
	if err != nil {
		return nil, err
	}
	sep.pool = &privsep.Pool{
		Path:   "/proc/self/exe",
		Args:   []string{"dovecotd", workerFlag},
		Env:    workerEnv(os.Environ()),
		Hello:  b,
		Files:  files,
		Stderr: stderr,
		Errorf: func(format string, args ...any) {
			if icfg.Log != nil {
				icfg.Log.Logf(2<<3|3, "master: Error: "+format, args...)
			}
		},
	}
	return sep, nil
}

// workerEnv is the part of the environment a worker gets: nothing of the
// root process's beyond the locale, the time zone, PATH and mailsuite's
// own variables (the user may inspect the process that serves them).
func workerEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "TZ" || k == "LANG" || strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "MAILSUITE_") || strings.HasPrefix(k, "GO") {
			out = append(out, kv)
		}
	}
	return out
}

func lookupGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// cred is the worker identity for a user: the userdb's uid and gid, the
// user's groups from the group file (Dovecot's initgroups for system
// users), and mail_privileged_group, which the worker keeps as saved gid
// only (Dovecot's restrict_access): as a supplementary group it would
// open every 0660 user:mail spool file to a symlink in the user's folders.
func (sep *separator) cred(name string, uid, gid int) privsep.Cred {
	// Dovecot's setgroups list starts with the user's own gid.
	c := privsep.Cred{UID: uint32(uid), GID: uint32(gid), Groups: []uint32{uint32(gid)}}
	seen := map[uint32]bool{uint32(gid): true}
	add := func(g int) {
		if g >= 0 && !seen[uint32(g)] {
			seen[uint32(g)] = true
			c.Groups = append(c.Groups, uint32(g))
		}
	}
	u := &user.User{Username: name, Gid: strconv.Itoa(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.Atoi(id); err == nil {
				add(n)
			}
		}
	}
	if sep.privGroup > 0 {
		c.PrivGID = uint32(sep.privGroup)
	}
	return c
}

// handoff sends one session: a plain TCP connection goes itself, any
// other (TLS) is proxied through a socketpair.
func (sep *separator) handoff(name string, uid, gid int, msg sessionMsg, conn net.Conn, logged func(int)) error {
	u := dovecotauth.User{Name: name, UID: uid, GID: gid}
	if err := dovecotauth.CheckDropPrivileges(u, sep.gids); err != nil {
		return err
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	var f *os.File
	var px *privsep.Proxy
	if tc, ok := conn.(*net.TCPConn); ok {
		if f, err = tc.File(); err != nil {
			return err
		}
	} else {
		if px, err = privsep.NewProxy(); err != nil {
			return err
		}
		f = px.Worker
	}
	_, err = sep.pool.Handoff(sep.cred(name, uid, gid), b, f, logged)
	f.Close()
	if err != nil {
		if px != nil {
			px.Abort()
		}
		return err
	}
	if px == nil {
		conn.Close()
		return nil
	}
	sep.wg.Add(1)
	go func() {
		defer sep.wg.Done()
		px.Run(conn)
	}()
	return nil
}

func (sep *separator) imap(h *imapd.Handoff, logged func(int)) error {
	return sep.handoff(h.User.Name, h.User.UID, h.User.GID, sessionMsg{IMAP: h}, h.Conn, logged)
}

func (sep *separator) pop3(h *pop3d.Handoff, logged func(int)) error {
	return sep.handoff(h.User.Name, h.User.UID, h.User.GID, sessionMsg{POP3: h}, h.Conn, logged)
}

// reopenLog reopens log_path after SIGHUP (logrotate) for the running
// workers and the ones to come.
func (sep *separator) reopenLog() error {
	if sep.logPath == "" {
		return nil
	}
	f, err := os.OpenFile(sep.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	sep.pool.SetFiles([]*os.File{f}, []byte(noticeLog), f)
	sep.logFile.Close()
	sep.logFile = f
	return nil
}

// noticeLog is the notice that comes with a reopened log file.
const noticeLog = "log"

// close ends the workers (their sessions get Dovecot's shutdown reply)
// and the proxies.
func (sep *separator) close() {
	sep.pool.Close()
	sep.wg.Wait()
}
