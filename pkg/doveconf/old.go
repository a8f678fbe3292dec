// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Dovecot 2.3 still accepts many settings of its 1.x and 2.0 days and
// rewrites them with an "Obsolete setting" warning (its old-set-parser).
// This file does the same for those that can still appear in a tree an
// admin carries forward; the 1.x "auth { }" section is not supported.

func (p *parser) obsolete(in *input, msg string) {
	if !p.seenObsolete {
		p.warn("NOTE: You can get a new clean config file with: doveconf -Pn > dovecot-new.conf")
		p.seenObsolete = true
	}
	p.warn(fmt.Sprintf("Obsolete setting in %s:%d: %s", in.path, in.pos, msg))
}

// setPath sets a setting below root by its internal path
// ("service/imap-login/inet_listener/imap/port"), as Dovecot's
// config_apply_line does for rewritten settings.
func setPath(root *node, path, value string) string {
	parts := strings.Split(path, "/")
	n := root
	for len(parts) > 2 {
		ld, ok := n.schema.list(parts[0])
		if !ok || ld.kind == listStrings {
			break
		}
		e := n.list(parts[0]).find(parts[1])
		if e == nil {
			return "Unknown setting: " + parts[len(parts)-1]
		}
		n, parts = e, parts[2:]
	}
	if len(parts) == 2 {
		if ld, ok := n.schema.list(parts[0]); ok && ld.kind == listStrings {
			n.list(parts[0]).setStr(parts[1], value)
			return ""
		}
	}
	if len(parts) != 1 {
		return "Unknown setting: " + parts[len(parts)-1]
	}
	if err := n.set(parts[0], value); err != nil {
		if err == errUnknown {
			return "Unknown setting: " + parts[0]
		}
		return err.Error()
	}
	return ""
}

// matchesProtocol tells whether a section with filter f applies to the
// given protocol, as Dovecot's config_filter_match(f, protocol) does.
func (f filter) matchesProtocol(proto string) bool {
	if f.isLocalRemote() {
		return false
	}
	switch {
	case f.protocol == "":
		return true
	case strings.HasPrefix(f.protocol, "!"):
		return f.protocol[1:] != proto
	}
	return f.protocol == proto
}

func listenHasPort(v string) bool {
	if !strings.Contains(v, ":") {
		return false
	}
	for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if a == "*" || a == "::" || a == "[::]" {
			continue
		}
		if _, err := netip.ParseAddr(a); err == nil {
			continue
		}
		return true
	}
	return false
}

var removedSettings = map[string]bool{
	"login_dir": true, "dbox_rotate_min_size": true, "dbox_rotate_days": true,
	"director_consistent_hashing": true, "mail_log_max_lines_per_sec": true,
	"maildir_copy_preserve_filename": true,
}

// serviceRenames map old settings to a setting of the login services
// (login_*), the mail services (mail_*) or the auth service (auth_*).
var (
	loginRenames = map[string]string{
		"login_chroot": "chroot", "login_user": "user", "login_executable": "executable",
		"login_process_size": "vsz_limit", "login_process_per_connection": "service_count",
		"login_processes_count": "process_min_avail", "login_max_processes_count": "process_limit",
		"login_max_connections": "client_limit",
	}
	mailRenames = map[string]string{
		"max_mail_processes": "process_limit", "mail_executable": "executable",
		"mail_process_size": "vsz_limit", "mail_drop_priv_before_exec": "drop_priv_before_exec",
	}
	authRenames = map[string]string{
		"auth_executable": "executable", "auth_process_size": "vsz_limit",
		"auth_user": "user", "auth_chroot": "chroot",
	}
)

// oldSetting rewrites an obsolete "key = value" line; handled is false
// when the line is an ordinary setting.
func (p *parser) oldSetting(in *input, key, value string) (handled bool, msg string) {
	f := p.top()
	if f.path == "plugin/0/" && key == "imap_zlib_compress_level" {
		p.obsolete(in, key+" has been replaced by imap_compress_deflate_level")
		f.strs.setStr("imap_compress_deflate_level", value)
		return true, ""
	}
	if f.path != "" {
		return false, ""
	}
	flt := f.scope.filter
	global := p.frames[0].scope.root
	isRoot := flt == (filter{})

	// Settings that moved into service { } blocks.
	if key == "ssl_listen" || (key == "listen" && (listenHasPort(value) || !isRoot)) {
		ssl := ""
		if key == "ssl_listen" {
			ssl = "s"
		}
		if value == "" {
			return true, ""
		}
		if i := strings.LastIndexByte(value, ':'); i >= 0 && listenHasPort(value) {
			p.obsolete(in, key+"=..:port has been replaced by service { inet_listener { port } }")
			port := value[i+1:]
			value = value[:i]
			for _, proto := range []string{"imap", "pop3"} {
				if flt.matchesProtocol(proto) {
					if m := setPath(global, "service/"+proto+"-login/inet_listener/"+proto+ssl+"/port", port); m != "" {
						return true, m
					}
				}
			}
		}
		if isRoot && ssl == "" {
			return true, p.apply(in, lineValue, key, value)
		}
		p.obsolete(in, "protocol { "+key+" } has been replaced by service { inet_listener { address } }")
		for _, proto := range []string{"imap", "pop3"} {
			if flt.matchesProtocol(proto) {
				if m := setPath(global, "service/"+proto+"-login/inet_listener/"+proto+ssl+"/address", value); m != "" {
					return true, m
				}
			}
		}
		return true, ""
	}
	if nk, ok := loginRenames[key]; ok {
		switch key {
		case "login_chroot":
			if value == "no" {
				value = ""
			} else {
				value = "login"
			}
		case "login_process_size":
			value += " M"
		case "login_process_per_connection":
			if value == "no" {
				value = "0"
			} else {
				value = "1"
			}
		}
		p.obsolete(in, key+" has been replaced by service { "+nk+" }")
		for _, proto := range []string{"imap", "pop3"} {
			if flt.matchesProtocol(proto) {
				if m := setPath(global, "service/"+proto+"-login/"+nk, value); m != "" {
					return true, m
				}
			}
		}
		return true, ""
	}
	if nk, ok := mailRenames[key]; ok {
		if key == "mail_process_size" {
			value += " M"
		}
		p.obsolete(in, key+" has been replaced by service { "+nk+" }")
		for _, proto := range []string{"imap", "pop3"} {
			if flt.matchesProtocol(proto) {
				if m := setPath(global, "service/"+proto+"/"+nk, value); m != "" {
					return true, m
				}
			}
		}
		return true, ""
	}
	if nk, ok := authRenames[key]; ok {
		if key == "auth_process_size" {
			value += " M"
		}
		p.obsolete(in, key+" has been replaced by service auth { "+nk+" }")
		return true, setPath(global, "service/auth/"+nk, value)
	}
	if key == "auth_cache_size" {
		if n, err := strconv.ParseUint(value, 10, 64); err == nil && allDigits(value) && n > 0 && n < 1024 {
			p.obsolete(in, "auth_cache_size value no longer defaults to megabytes. Use "+value+"M")
			return true, setPath(global, key, value+"M")
		}
	}
	if key == "auth_count" {
		if value == "count" {
			p.obsolete(in, "auth_count has been removed")
		} else {
			p.obsolete(in, "auth_count has been removed, and its value must be 1")
		}
		return true, ""
	}

	// Settings renamed or reshaped at the top level.
	rename := func(newKey, v string) (bool, string) {
		p.obsolete(in, key+" has been renamed to "+newKey)
		return true, p.apply(in, lineValue, newKey, v)
	}
	switch {
	case key == "protocols":
		var out []string
		haveImap, haveImaps, havePop3, havePop3s := false, false, false, false
		for _, s := range strings.Fields(value) {
			switch s {
			case "imap":
				haveImap = true
			case "imaps":
				haveImaps = true
				continue
			case "pop3":
				havePop3 = true
			case "pop3s":
				havePop3s = true
				continue
			case "managesieve":
				s = "sieve"
				p.obsolete(in, "protocols=managesieve has been renamed to protocols=sieve")
			}
			out = append(out, s)
		}
		value = strings.Join(out, " ")
		if haveImaps && !haveImap {
			p.obsolete(in, "'imaps' protocol can no longer be specified (use protocols=imap). to disable non-ssl imap, use service imap-login { inet_listener imap { port=0 } }")
			value += " imap"
			setPath(f.node, "service/imap-login/inet_listener/imap/port", "0")
		} else if haveImaps {
			p.obsolete(in, "'imaps' protocol is no longer necessary, remove it")
		}
		if havePop3s && !havePop3 {
			p.obsolete(in, "'pop3s' protocol can no longer be specified (use protocols=pop3). to disable non-ssl pop3, use service pop3-login { inet_listener pop3 { port=0 } }")
			value += " pop3"
			setPath(f.node, "service/pop3-login/inet_listener/pop3/port", "0")
		} else if havePop3s {
			p.obsolete(in, "'pop3s' protocol is no longer necessary, remove it")
		}
		return true, p.apply(in, lineValue, key, strings.TrimPrefix(value, " "))
	case key == "ssl_cert_file" || key == "ssl_key_file" || key == "ssl_ca_file":
		if value == "" {
			return true, ""
		}
		nk := key[:strings.LastIndexByte(key, '_')]
		p.obsolete(in, key+" has been replaced by "+nk+" = <file")
		return true, p.apply(in, lineFile, nk, value)
	case key == "ssl_disable":
		switch {
		case strings.EqualFold(value, "yes"):
			value = "no"
		case strings.EqualFold(value, "no"):
			value = "yes"
		}
		return rename("ssl", value)
	case key == "ssl_parameters_regenerate" || key == "ssl_dh_parameters_length":
		p.obsolete(in, key+" is no longer needed")
		return true, ""
	case key == "ssl_protocols":
		p.obsolete(in, key+" has been replaced by ssl_min_protocol")
		min, err := sslProtocolsToMin(value)
		if err != "" {
			p.cfg.Messages = append(p.cfg.Messages, "Error: Could not find a minimum ssl_min_protocol setting from ssl_protocols = "+value+": "+err)
			return true, ""
		}
		return true, p.apply(in, lineValue, "ssl_min_protocol", min)
	case key == "sieve" || key == "sieve_storage":
		if key == "sieve_storage" {
			p.obsolete(in, "sieve_storage has been moved into plugin { sieve_dir }")
		} else {
			p.obsolete(in, key+" has been moved into plugin {} section")
		}
		f.node.list("plugin").setStr(key, value)
		return true, ""
	case key == "fsync_disable":
		switch {
		case strings.EqualFold(value, "yes"):
			value = "never"
		case strings.EqualFold(value, "no"):
			value = "optimized"
		}
		return rename("mail_fsync", value)
	case key == "dbox_rotate_size":
		return rename("mdbox_rotate_size", value)
	case strings.HasPrefix(key, "mail_cache_compress_"):
		return rename("mail_cache_purge_"+strings.TrimPrefix(key, "mail_cache_compress_"), value)
	case key == "imap_client_workarounds":
		args := strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' })
		for i, a := range args {
			switch a {
			case "outlook-idle":
				args[i] = ""
				p.obsolete(in, "imap_client_workarounds=outlook-idle is no longer necessary")
			case "netscape-eoh":
				args[i] = ""
				p.obsolete(in, "imap_client_workarounds=netscape-eoh is no longer supported")
			}
		}
		return true, p.apply(in, lineValue, key, strings.Join(args, " "))
	case removedSettings[key]:
		p.obsolete(in, key+" has been removed")
		return true, ""
	}
	return false, ""
}

// sslProtocolsToMin turns an old ssl_protocols list into the lowest
// protocol it enables.
func sslProtocolsToMin(list string) (string, string) {
	versions := []string{"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2"}
	state := make([]int, len(versions))
	explicit := false
	for _, p := range strings.FieldsFunc(list, func(r rune) bool { return r == ' ' || r == ',' }) {
		enable := true
		if strings.HasPrefix(p, "!") {
			enable, p = false, p[1:]
		}
		found := false
		for i, v := range versions {
			if v == p {
				found = true
				if enable {
					state[i], explicit = 1, true
				} else {
					state[i] = -1
				}
			}
		}
		if !found {
			return "", "Unrecognized protocol '" + p + "'"
		}
	}
	for i := range versions {
		if (explicit && state[i] > 0) || (!explicit && state[i] == 0) {
			return versions[i], ""
		}
	}
	return "", "All protocols disabled"
}
