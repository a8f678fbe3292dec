// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// singleProcessServices may only run one process (process_limit 1).
var singleProcessServices = map[string]bool{
	"anvil": true, "auth": true, "director": true, "indexer": true, "ipc": true,
	"log": true, "old-stats": true, "replicator": true,
}

var serviceTypes = map[string]bool{
	"": true, "log": true, "config": true, "anvil": true, "login": true, "startup": true, "worker": true,
}

// checkMaster runs the master process's checks (Dovecot's
// master_settings_verify as the config binary runs it): listen, uid and
// gid ranges, services, protocols and listeners. It returns the first
// failure and logs the warnings.
func (c *Config) checkMaster(root *node) string {
	warn := func(s string) { c.Messages = append(c.Messages, "Warning: "+s) }
	u32 := func(n *node, k string) uint64 {
		v, _ := strconv.ParseUint(n.value(k), 10, 64)
		return v
	}
	if root.value("listen") == "" {
		return "listen can't be set empty"
	}
	baseDir := strings.TrimSuffix(root.value("base_dir"), "/")
	if u32(root, "last_valid_uid") != 0 && u32(root, "first_valid_uid") > u32(root, "last_valid_uid") {
		return "first_valid_uid can't be larger than last_valid_uid"
	}
	if u32(root, "last_valid_gid") != 0 && u32(root, "first_valid_gid") > u32(root, "last_valid_gid") {
		return "first_valid_gid can't be larger than last_valid_gid"
	}
	var services []*node
	if l := root.lists["service"]; l != nil {
		services = l.elems
	}
	if len(services) == 0 {
		return "No services defined"
	}
	protocolKnown := map[string]bool{}
	for i, s := range services {
		if s.value("name") == "" {
			return fmt.Sprintf("Service #%d is missing name", i)
		}
		if !serviceTypes[s.value("type")] {
			return "Unknown service type: " + s.value("type")
		}
		protocolKnown[s.value("protocol")] = true
	}
	protocols := strings.FieldsFunc(root.value("protocols"), func(r rune) bool { return r == ' ' })
	if len(protocols) == 1 && protocols[0] == "none" {
		protocols = nil
	}
	enabled := map[string]bool{}
	for _, p := range protocols {
		if !protocolKnown[p] {
			return "protocols: Unknown protocol: " + p
		}
		enabled[p] = true
	}
	defaultProcessLimit := u32(root, "default_process_limit")
	var listeners []string
	var authMax, anvilMax uint64 = 0, 2
	var authWhy, anvilWhy []string
	for _, s := range services {
		name, proto := s.value("name"), s.value("protocol")
		if proto != "" && !enabled[proto] {
			continue // protocol not enabled: its settings are ignored
		}
		chroot := s.value("chroot")
		if s.value("drop_priv_before_exec") == "yes" && chroot != "" {
			return "service(" + name + "): drop_priv_before_exec=yes can't be used with chroot"
		}
		limit := u32(s, "process_limit")
		if limit == 0 {
			limit = defaultProcessLimit
		}
		if u32(s, "process_min_avail") > limit {
			return "service(" + name + "): process_min_avail is higher than process_limit"
		}
		if vsz, err := parseSize(s.value("vsz_limit")); err == nil && vsz < 1<<20 && vsz != 0 {
			return "service(" + name + "): vsz_limit is too low"
		}
		if singleProcessServices[name] && limit > 1 {
			return "service(" + name + "): process_limit must be 1"
		}
		if proto != "" && (u32(s, "service_count") != 1 || s.value("type") == "login") && name != "imap-hibernate" {
			authWhy = append(authWhy, fmt.Sprintf("service %s { process_limit=%d }", name, limit))
			authMax += limit
		}
		if s.value("type") == "login" || name == "auth" {
			anvilMax += limit
			anvilWhy = append(anvilWhy, fmt.Sprintf("service %s { process_limit=%d }", name, limit))
		}
		for _, kind := range []string{"unix_listener", "fifo_listener"} {
			l := s.lists[kind]
			if l == nil {
				continue
			}
			for _, f := range l.elems {
				path := f.value("path")
				if path == "" {
					return "service(" + name + "): " + kind + ": path must not be empty"
				}
				if !strings.HasPrefix(path, "/") {
					path = baseDir + "/" + path
				} else if strings.HasPrefix(path, baseDir+"/") {
					warn("You should remove base_dir prefix from unix_listener: " + path)
				}
				if mode, _ := strconv.ParseUint(f.value("mode"), 8, 32); mode != 0 {
					listeners = append(listeners, path)
				}
			}
		}
		if l := s.lists["inet_listener"]; l != nil {
			for _, in := range l.elems {
				if port := in.value("port"); port != "0" {
					listeners = append(listeners, port+":"+in.value("address"))
				}
			}
		}
	}
	clientLimit := func(name string) uint64 {
		for _, s := range services {
			if s.value("name") == name {
				if v := u32(s, "client_limit"); v != 0 {
					return v
				}
				break
			}
		}
		return u32(root, "default_client_limit")
	}
	if l := clientLimit("auth"); l < authMax && !c.warnedAuth {
		c.warnedAuth = true
		warn(fmt.Sprintf("service auth { client_limit=%d } is lower than required under max. load (%d). Counted for protocol services with service_count != 1: %s",
			l, authMax, strings.Join(authWhy, " + ")))
	}
	if l := clientLimit("anvil"); l < anvilMax && !c.warnedAnvil {
		c.warnedAnvil = true
		warn(fmt.Sprintf("service anvil { client_limit=%d } is lower than required under max. load (%d). Counted with: %s",
			l, anvilMax, strings.Join(anvilWhy, " + ")))
	}
	sort.Strings(listeners)
	for i := 1; i < len(listeners); i++ {
		if listeners[i] == listeners[i-1] {
			return "duplicate listener: " + listeners[i]
		}
	}
	return ""
}
