// SPDX-License-Identifier: MIT

package doveconf

import (
	"fmt"
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

	warnedAuth, warnedAnvil bool // Dovecot warns about these once
}

// check runs the checks doveconf runs after parsing: every filter block,
// merged over the global settings, until one fails (that failure is
// fatal), then the global block once more as doveconf does while printing
// (its failures are logged as errors).
func (c *Config) check() error {
	global := c.scopes[0].root
	globalSSL := ""
	if global.changed["ssl"] {
		globalSSL = global.value("ssl")
	}
	sslWarned := false
	var fatal string
	for _, s := range c.scopes {
		ssl := globalSSL
		if s.root.changed["ssl"] {
			ssl = s.root.value("ssl")
		}
		if ssl != "no" && globalSSL == "no" && !sslWarned {
			c.Messages = append(c.Messages, "Warning: "+fmt.Sprintf("SSL is disabled because global ssl=no, ignoring ssl=%s for subsection", ssl))
			sslWarned = true
		}
		n, conflict := c.resolve(s.filter, true)
		if conflict != "" {
			fatal = conflict
			break
		}
		if errs := c.checkNode(n); len(errs) > 0 {
			fatal = errs[0]
			break
		}
	}
	c.exportCheck()
	if fatal != "" {
		return &Error{File: c.Path, Msg: fatal}
	}
	return nil
}

// exportCheck checks the global block as doveconf does when it prints it.
func (c *Config) exportCheck() {
	c.CheckErrors = c.checkNode(c.scopes[0].root)
}

// checkNode reports the failed checks of one root block, one per Dovecot
// settings module, logging the warnings the checks give.
func (c *Config) checkNode(root *node) []string {
	// Dovecot checks its modules in the order of their source
	// directories: auth, lib-storage (mail), master, stats.
	var errs []string
authCheck:
	for _, db := range []string{"passdb", "userdb"} {
		if l := root.lists[db]; l != nil {
			for _, e := range l.elems {
				if e.value("driver") == "" {
					errs = append(errs, db+" is missing driver")
					break authCheck
				}
			}
		}
	}
	if n, err := parseSize(root.value("mail_cache_max_size")); err == nil && n > 1<<30 {
		errs = append(errs, "mail_cache_max_size can't be over 1 GB")
	}
	if msg := c.checkMaster(root); msg != "" {
		errs = append(errs, msg)
	}
	if msg := checkStats(root); msg != "" {
		errs = append(errs, msg)
	}
	return errs
}

// checkStats runs the stats module's checks on metric and event_exporter
// blocks; like Dovecot it reports only the first failure.
func checkStats(root *node) string {
	exporters := map[string]bool{}
	if l := root.lists["event_exporter"]; l != nil {
		for _, e := range l.elems {
			switch {
			case e.value("name") == "":
				return "Exporter name can't be empty"
			case e.value("format") == "":
				return "Exporter format name can't be empty"
			}
			exporters[e.value("name")] = true
		}
	}
	if l := root.lists["metric"]; l != nil {
		for _, m := range l.elems {
			name := m.value("name")
			switch {
			case name == "":
				return "Metric name can't be empty"
			case m.value("filter") == "":
				return "metric " + name + " { filter } is empty - will not match anything"
			case m.value("exporter") != "" && !exporters[m.value("exporter")]:
				return "metric " + name + " refers to non-existent exporter '" + m.value("exporter") + "'"
			}
		}
	}
	return ""
}
