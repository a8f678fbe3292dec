// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Match describes a connection for choosing filter blocks: the protocol
// ("imap", "pop3", ...) and, when known, the local and remote addresses
// and the local name the client asked for (SNI).
type Match struct {
	Protocol  string
	Local     netip.Addr
	Remote    netip.Addr
	LocalName string
}

// Value returns the value of a top-level setting (as doveconf prints it)
// for connections described by m, after merging the matching filter
// blocks as Dovecot does. ok is false for an unknown setting.
func (c *Config) Value(m Match, key string) (value string, ok bool) {
	if _, known := rootSchema.setting(key); !known {
		return "", false
	}
	n, _ := c.resolve(m.query(), false)
	return n.value(key), true
}

// AuthDB is a passdb or userdb block.
type AuthDB struct {
	Name           string
	Driver         string
	Args           string
	DefaultFields  string
	OverrideFields string
	Skip           string // never, authenticated/found, unauthenticated/notfound
	ResultSuccess  string
	ResultFailure  string
	ResultInternal string
	Deny           bool // passdb only
	Pass           bool // passdb only
	Master         bool // passdb only
}

// Mailbox is a mailbox block inside a namespace.
type Mailbox struct {
	Name       string
	SpecialUse []string // e.g. `\Sent`
	Auto       string   // no, create, subscribe
}

// Namespace is a namespace block.
type Namespace struct {
	Name          string
	Type          string // private, shared, public
	Separator     string
	Prefix        string
	Location      string
	Inbox         bool
	Hidden        bool
	List          string // yes, no, children
	Subscriptions bool
	Disabled      bool
	Mailboxes     []Mailbox
}

// Listener is an inet_listener of a service.
type Listener struct {
	Service string
	Name    string
	// Addresses are the listener's own address list or, when empty,
	// the global listen setting.
	Addresses []string
	Port      int
	SSL       bool
	HAProxy   bool
}

// Settings is the typed view of the settings dovecotd honours, resolved for
// one kind of connection.
type Settings struct {
	Protocols                []string
	Listen                   []string
	SSL                      string // no, yes, required
	SSLCert, SSLKey          string // as written: "</path" reads a file
	DisablePlaintextAuth     bool
	AuthMechanisms           []string
	AuthFailureDelay         time.Duration
	AuthUsernameFormat       string
	LoginTrustedNetworks     []string
	Passdbs, Userdbs         []AuthDB
	FirstValidUID            uint32
	LastValidUID             uint32
	FirstValidGID            uint32
	LastValidGID             uint32
	MailLocation             string
	MailPrivilegedGroup      string
	MboxReadLocks            []string
	MboxWriteLocks           []string
	MboxLockTimeout          time.Duration
	MboxDotlockChangeTimeout time.Duration
	Namespaces               []Namespace
	LoginGreeting            string
	MailMaxUserIPConnections uint32
	IMAPIdleNotifyInterval   time.Duration
	MailboxIdleCheckInterval time.Duration
	LogPath, InfoLogPath     string
	DebugLogPath             string
	SyslogFacility           string
	InstanceName             string
	BaseDir                  string
	POP3UIDLFormat           string
	POP3NoFlagUpdates        bool
	POP3LockSession          bool
	POP3ReuseXUIDL           bool
	POP3SaveUIDL             bool
	POP3DeleteType           string
	POP3LogoutFormat         string
	IMAPLogoutFormat         string
	Listeners                []Listener
}

// Settings resolves the typed view for connections described by m.
func (c *Config) Settings(m Match) *Settings {
	root, _ := c.resolve(m.query(), false)
	elems := func(list string) []*node {
		if l := root.lists[list]; l != nil {
			return l.elems
		}
		return nil
	}
	str := root.value
	boolean := func(k string) bool { return str(k) == "yes" }
	dur := func(k string) time.Duration { return time.Duration(millis(str(k))) * time.Millisecond }
	u32 := func(k string) uint32 {
		n, _ := strconv.ParseUint(str(k), 10, 32)
		return uint32(n)
	}
	s := &Settings{
		Protocols:                strings.Fields(str("protocols")),
		Listen:                   splitList(str("listen")),
		SSL:                      str("ssl"),
		SSLCert:                  str("ssl_cert"),
		SSLKey:                   str("ssl_key"),
		DisablePlaintextAuth:     boolean("disable_plaintext_auth"),
		AuthMechanisms:           strings.Fields(strings.ToLower(str("auth_mechanisms"))),
		AuthFailureDelay:         dur("auth_failure_delay"),
		AuthUsernameFormat:       str("auth_username_format"),
		LoginTrustedNetworks:     splitList(str("login_trusted_networks")),
		FirstValidUID:            u32("first_valid_uid"),
		LastValidUID:             u32("last_valid_uid"),
		FirstValidGID:            u32("first_valid_gid"),
		LastValidGID:             u32("last_valid_gid"),
		MailLocation:             str("mail_location"),
		MailPrivilegedGroup:      str("mail_privileged_group"),
		MboxReadLocks:            strings.Fields(str("mbox_read_locks")),
		MboxWriteLocks:           strings.Fields(str("mbox_write_locks")),
		MboxLockTimeout:          dur("mbox_lock_timeout"),
		MboxDotlockChangeTimeout: dur("mbox_dotlock_change_timeout"),
		LoginGreeting:            str("login_greeting"),
		MailMaxUserIPConnections: u32("mail_max_userip_connections"),
		IMAPIdleNotifyInterval:   dur("imap_idle_notify_interval"),
		MailboxIdleCheckInterval: dur("mailbox_idle_check_interval"),
		LogPath:                  str("log_path"),
		InfoLogPath:              str("info_log_path"),
		DebugLogPath:             str("debug_log_path"),
		SyslogFacility:           str("syslog_facility"),
		InstanceName:             str("instance_name"),
		BaseDir:                  str("base_dir"),
		POP3UIDLFormat:           str("pop3_uidl_format"),
		POP3NoFlagUpdates:        boolean("pop3_no_flag_updates"),
		POP3LockSession:          boolean("pop3_lock_session"),
		POP3ReuseXUIDL:           boolean("pop3_reuse_xuidl"),
		POP3SaveUIDL:             boolean("pop3_save_uidl"),
		POP3DeleteType:           str("pop3_delete_type"),
		POP3LogoutFormat:         str("pop3_logout_format"),
		IMAPLogoutFormat:         str("imap_logout_format"),
	}
	if len(s.Protocols) == 1 && s.Protocols[0] == "none" {
		s.Protocols = nil
	}
	for _, e := range elems("passdb") {
		s.Passdbs = append(s.Passdbs, authDB(e))
	}
	for _, e := range elems("userdb") {
		s.Userdbs = append(s.Userdbs, authDB(e))
	}
	for _, e := range elems("namespace") {
		ns := Namespace{
			Name: e.value("name"), Type: e.value("type"), Separator: e.value("separator"),
			Prefix: e.value("prefix"), Location: e.value("location"),
			Inbox: e.value("inbox") == "yes", Hidden: e.value("hidden") == "yes",
			List: e.value("list"), Subscriptions: e.value("subscriptions") == "yes",
			Disabled: e.value("disabled") == "yes",
		}
		if l := e.lists["mailbox"]; l != nil {
			for _, mb := range l.elems {
				ns.Mailboxes = append(ns.Mailboxes, Mailbox{
					Name: mb.value("name"), SpecialUse: strings.Fields(mb.value("special_use")), Auto: mb.value("auto"),
				})
			}
		}
		s.Namespaces = append(s.Namespaces, ns)
	}
	for _, svc := range elems("service") {
		l := svc.lists["inet_listener"]
		if l == nil {
			continue
		}
		for _, in := range l.elems {
			port, _ := strconv.Atoi(in.value("port"))
			addrs := splitList(in.value("address"))
			if len(addrs) == 0 {
				addrs = s.Listen
			}
			s.Listeners = append(s.Listeners, Listener{
				Service: svc.value("name"), Name: in.value("name"), Addresses: addrs,
				Port: port, SSL: in.value("ssl") == "yes", HAProxy: in.value("haproxy") == "yes",
			})
		}
	}
	return s
}

func authDB(e *node) AuthDB {
	return AuthDB{
		Name: e.value("name"), Driver: e.value("driver"), Args: e.value("args"),
		DefaultFields: e.value("default_fields"), OverrideFields: e.value("override_fields"),
		Skip: e.value("skip"), ResultSuccess: e.value("result_success"),
		ResultFailure: e.value("result_failure"), ResultInternal: e.value("result_internalfail"),
		Deny: e.value("deny") == "yes", Pass: e.value("pass") == "yes", Master: e.value("master") == "yes",
	}
}

// splitList splits Dovecot's list values, separated by commas and blanks.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// Listener returns the listener name of service (e.g. "imap-login",
// "imap"), if it exists.
func (s *Settings) Listener(service, name string) (Listener, bool) {
	for _, l := range s.Listeners {
		if l.Service == service && l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// HasProtocol reports whether protocols lists name.
func (s *Settings) HasProtocol(name string) bool {
	for _, p := range s.Protocols {
		if p == name {
			return true
		}
	}
	return false
}

// ReadValue returns a setting value with a "<path" value replaced by the
// file's contents, as Dovecot does when it uses the setting; relative paths
// are relative to the configuration file's directory.
func (c *Config) ReadValue(v string) (string, error) {
	if !strings.HasPrefix(v, "<") {
		return v, nil
	}
	p := strings.TrimLeft(v[1:], " \t")
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(c.Path), p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return string(data), nil
}
