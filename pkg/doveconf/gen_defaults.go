// SPDX-License-Identifier: MIT

//go:build ignore

// gen_defaults asks the installed doveconf (Debian's dovecot-core 2.3.19.1)
// for its built-in defaults and the type of every setting, and writes
// defaults_table.go. It only ever runs doveconf with -c on temporary files.
// Run it with `go generate ./pkg/doveconf/` when the reference changes.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// enumValues are the allowed values of Dovecot's enum settings, as its
// setting definitions list them (first = default). Keyed by schema.key.
var enumValues = map[string]string{
	"root.doveadm_ssl":               "no:ssl:starttls",
	"root.imap_fetch_failure":        "disconnect-immediately:disconnect-after:no-after",
	"root.imapc_ssl":                 "no:imaps:starttls",
	"root.lmtp_hdr_delivery_address": "final:none:original",
	"root.lock_method":               "fcntl:flock:dotlock",
	"root.mail_fsync":                "optimized:never:always",
	"root.mbox_md5":                  "apop3d:all",
	"root.pop3_delete_type":          "default:expunge:flag",
	"root.pop3_uidl_duplicates":      "allow:rename",
	"root.pop3c_ssl":                 "no:pop3s:starttls",
	"root.ssl":                       "yes:no:required",
	"root.submission_relay_ssl":      "no:smtps:starttls",
	"root.submission_ssl":            "no:smtps:submissions:starttls",
	"passdb.auth_verbose":            "default:yes:no",
	"passdb.skip":                    "never:authenticated:unauthenticated",
	"passdb.result_success":          "return-ok:return:return-fail:continue:continue-ok:continue-fail",
	"passdb.result_failure":          "continue:return:return-ok:return-fail:continue-ok:continue-fail",
	"passdb.result_internalfail":     "continue:return:return-ok:return-fail:continue-ok:continue-fail",
	"userdb.auth_verbose":            "default:yes:no",
	"userdb.skip":                    "never:found:notfound",
	"userdb.result_success":          "return-ok:return:return-fail:continue:continue-ok:continue-fail",
	"userdb.result_failure":          "continue:return:return-ok:return-fail:continue-ok:continue-fail",
	"userdb.result_internalfail":     "continue:return:return-ok:return-fail:continue-ok:continue-fail",
	"namespace.type":                 "private:shared:public",
	"namespace.list":                 "yes:no:children",
	"mailbox.auto":                   "no:create:subscribe",
}

type line struct {
	depth int
	key   string // setting key or section type
	label string // section name
	value string
	open  bool
	close bool
}

func doveconf(dir, conf string, args ...string) (string, string) {
	p := filepath.Join(dir, "p.conf")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command("doveconf", append([]string{"-c", p}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return out.String(), errb.String()
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			if v[i] == '\\' && i+1 < len(v)-1 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

func parseDump(s string) []line {
	var ls []line
	for _, raw := range strings.Split(s, "\n") {
		if raw == "" || raw[0] == '#' {
			continue
		}
		t := strings.TrimLeft(raw, " ")
		d := (len(raw) - len(t)) / 2
		switch {
		case t == "}":
			ls = append(ls, line{depth: d, close: true})
		case strings.HasSuffix(t, " {") && !strings.Contains(t, " = "):
			h := strings.TrimSuffix(t, " {")
			k, lab, _ := strings.Cut(h, " ")
			ls = append(ls, line{depth: d, key: k, label: unquote(lab), open: true})
		default:
			k, v, ok := strings.Cut(t, " = ")
			if !ok {
				k = strings.TrimSuffix(t, " =")
			}
			ls = append(ls, line{depth: d, key: k, value: unquote(v)})
		}
	}
	return ls
}

type elem struct {
	list, name string
	vals       [][2]string
	kids       []*elem
}

func tree(ls []line) *elem {
	root := &elem{}
	stack := []*elem{root}
	for _, l := range ls {
		cur := stack[len(stack)-1]
		switch {
		case l.close:
			stack = stack[:len(stack)-1]
		case l.open:
			e := &elem{list: l.key, name: l.label}
			cur.kids = append(cur.kids, e)
			stack = append(stack, e)
		default:
			cur.vals = append(cur.vals, [2]string{l.key, l.value})
		}
	}
	return root
}

func probeKind(dir, schema, before, after, key string) string {
	try := func(v string) string {
		_, e := doveconf(dir, before+key+" = "+v+"\n"+after, "-n")
		if i := strings.Index(e, "line "); i >= 0 && strings.Contains(e, "Fatal: Error in configuration file") {
			e = e[i:]
			if j := strings.Index(e, ": "); j >= 0 {
				return strings.TrimSpace(e[j+2:])
			}
		}
		return ""
	}
	e := try("zz!z")
	switch {
	case strings.HasPrefix(e, "Invalid boolean value"):
		return "kindBool"
	case strings.HasPrefix(e, "Invalid number"):
		if strings.HasPrefix(try("0z"), "Invalid number: ") {
			return "kindOctal"
		}
		return "kindUint"
	case strings.HasPrefix(e, "Invalid port number"):
		return "kindPort"
	case strings.HasPrefix(e, "Invalid size"):
		return "kindSize"
	case strings.HasPrefix(e, "Invalid time interval"):
		if try("1ms") == "" {
			return "kindTimeMsecs"
		}
		return "kindTime"
	case strings.HasPrefix(e, "Invalid value"):
		if _, ok := enumValues[schema+"."+key]; !ok {
			log.Fatalf("enum %s.%s has no value list", schema, key)
		}
		return "kindEnum"
	case e == "":
		return "kindString"
	}
	log.Fatalf("%s.%s: unexpected probe error %q", schema, key, e)
	return ""
}

type schemaSpec struct {
	name          string
	before, after string
	vals          [][2]string
}

func main() {
	dir, err := os.MkdirTemp("", "gendefaults")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	allS, _ := doveconf(dir, "", "-s")
	allA, _ := doveconf(dir, "", "-a")
	shown := map[string]bool{}
	for _, e := range tree(parseDump(allA)).vals {
		shown[e[0]] = true
	}
	root := tree(parseDump(allS))

	sectConf := "namespace p {\n mailbox m {\n }\n}\npassdb {\n}\nuserdb {\n}\nservice p {\n inet_listener l {\n }\n unix_listener u {\n }\n fifo_listener f {\n }\n}\nmetric p {\n}\nevent_exporter p {\n}\n"
	sectOut, _ := doveconf(dir, sectConf, "-s")
	sect := tree(parseDump(sectOut))
	find := func(e *elem, list, name string) *elem {
		for _, k := range e.kids {
			if k.list == list && k.name == name {
				return k
			}
		}
		log.Fatalf("no %s %s", list, name)
		return nil
	}
	ns := find(sect, "namespace", "p")
	svc := find(sect, "service", "p")
	specs := []schemaSpec{
		{"root", "", "", root.vals},
		{"service", "service p {\n", "}\n", svc.vals},
		{"inet_listener", "service p {\ninet_listener l {\n", "}\n}\n", find(svc, "inet_listener", "l").vals},
		{"unix_listener", "service p {\nunix_listener l {\n", "}\n}\n", find(svc, "unix_listener", "u").vals},
		{"fifo_listener", "service p {\nfifo_listener l {\n", "}\n}\n", find(svc, "fifo_listener", "f").vals},
		{"namespace", "namespace p {\n", "}\n", ns.vals},
		{"mailbox", "namespace p {\nmailbox m {\n", "}\n}\n", find(ns, "mailbox", "m").vals},
		{"passdb", "passdb {\n", "}\n", find(sect, "passdb", "").vals},
		{"userdb", "userdb {\n", "}\n", find(sect, "userdb", "").vals},
		{"metric", "metric p {\n", "}\n", find(sect, "metric", "p").vals},
		{"event_exporter", "event_exporter p {\n", "}\n", find(sect, "event_exporter", "p").vals},
	}

	var b bytes.Buffer
	b.WriteString("// SPDX-License-Identifier: MIT\n\n// Code generated by gen_defaults.go from doveconf 2.3.19.1 (Debian 12); DO NOT EDIT.\n\npackage doveconf\n\n")
	b.WriteString("var generatedSchemas = map[string][]settingDef{\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "%q: {\n", s.name)
		for _, kv := range s.vals {
			kind := probeKind(dir, s.name, s.before, s.after, kv[0])
			hidden := s.name == "root" && !shown[kv[0]]
			fmt.Fprintf(&b, "{key: %q, kind: %s, def: %q", kv[0], kind, kv[1])
			if ev, ok := enumValues[s.name+"."+kv[0]]; ok {
				fmt.Fprintf(&b, ", enum: %q", ev)
			}
			if hidden {
				b.WriteString(", hidden: true")
			}
			b.WriteString("},\n")
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n\n")

	// Built-in list elements (services and their listeners).
	b.WriteString("var generatedElems = []elemDefault{\n")
	var write func(e *elem)
	write = func(e *elem) {
		fmt.Fprintf(&b, "{list: %q, name: %q, vals: [][2]string{", e.list, e.name)
		for _, kv := range e.vals {
			fmt.Fprintf(&b, "{%q, %q},", kv[0], kv[1])
		}
		b.WriteString("}")
		if len(e.kids) > 0 {
			b.WriteString(", kids: []elemDefault{\n")
			for _, k := range e.kids {
				write(k)
			}
			b.WriteString("}")
		}
		b.WriteString("},\n")
	}
	names := []*elem{}
	names = append(names, root.kids...)
	sort.SliceStable(names, func(i, j int) bool { return false })
	for _, k := range names {
		write(k)
	}
	b.WriteString("}\n")
	out, err := format.Source(b.Bytes())
	if err != nil {
		os.WriteFile("defaults_table.go.broken", b.Bytes(), 0o644)
		log.Fatal(err)
	}
	if err := os.WriteFile("defaults_table.go", out, 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote defaults_table.go:", strconv.Itoa(len(out)), "bytes")
}
