// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
	"strings"
)

// Config is a parsed Dovecot configuration: the global settings and the
// protocol/local/remote filter blocks.
type Config struct {
	// Path is the configuration file as given to Load.
	Path string
	// Messages are what doveconf logs while reading this tree, in order,
	// such as "Warning: Obsolete setting in ...", without its
	// "doveconf: " prefix.
	Messages []string
	// CheckErrors are the failed setting checks doveconf reports as
	// "doveconf: Error: <msg>" before giving up; the returned *Error
	// carries the first.
	CheckErrors []string

	scopes []*scope
}

// check runs the whole-tree checks doveconf runs after parsing: the
// global ssl=no warning and the setting checks this package knows.
func (c *Config) check() error {
	global := c.scopes[0].root
	globalSSL := ""
	if global.changed["ssl"] {
		globalSSL = global.value("ssl")
	}
	warned := false
	for _, s := range c.scopes {
		ssl := globalSSL
		if s.root.changed["ssl"] {
			ssl = s.root.value("ssl")
		}
		if ssl != "no" && globalSSL == "no" && !warned {
			c.Messages = append(c.Messages, "Warning: "+fmt.Sprintf("SSL is disabled because global ssl=no, ignoring ssl=%s for subsection", ssl))
			warned = true
		}
	}
	c.CheckErrors = checkNode(global)
	if len(c.CheckErrors) > 0 {
		return &Error{File: c.Path, Msg: c.CheckErrors[0]}
	}
	return nil
}

// checkNode reports the failed checks of one root block, in the order of
// Dovecot's setting modules (master first, then auth).
func checkNode(root *node) []string {
	var errs []string
	protos := map[string]bool{}
	if l := root.lists["service"]; l != nil {
		for _, s := range l.elems {
			protos[s.value("protocol")] = true
		}
	}
	if p := strings.Fields(root.value("protocols")); !(len(p) == 1 && p[0] == "none") {
		for _, name := range p {
			if !protos[name] {
				errs = append(errs, "protocols: Unknown protocol: "+name)
				break
			}
		}
	}
	if n, err := parseSize(root.value("mail_cache_max_size")); err == nil && n > 1<<30 {
		errs = append(errs, "mail_cache_max_size can't be over 1 GB")
	}
	for _, db := range []string{"passdb", "userdb"} {
		if l := root.lists[db]; l != nil {
			for _, e := range l.elems {
				if e.value("driver") == "" {
					errs = append(errs, db+" is missing driver")
					break
				}
			}
		}
	}
	return errs
}
