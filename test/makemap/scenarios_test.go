// SPDX-License-Identifier: MIT

package makemap_test

import (
	"os"
	"path/filepath"
	"testing"

	"mailsuite/internal/testutil"
)

// TestScenarios compares both programs on the cases around the input:
// options and usage, the cf file, map types, appending, links, directory
// warnings and file modes. Each scenario sets up two alike directories
// and runs there with relative names, so messages match word for word.
func TestScenarios(t *testing.T) {
	tl := needTools(t)
	const src = "Connect:10.0.0 RELAY\nFrom:Spam@Example.com REJECT\ndup.example FIRST\n"
	const more = "dup.example SECOND\nnew.example NEW\nconnect:10.0.0 OK\n"
	root := os.Geteuid() == 0
	// base makes a map with the real makemap, so -o and -u start from a
	// file the real program wrote.
	base := func(t *testing.T, dir, typ, name string, flags ...string) {
		t.Helper()
		r := run(t, tl.real, dir, "", []byte(src), append(append([]string{"-C", "/dev/null"}, flags...), typ, name)...)
		if r.rc != 0 {
			t.Fatalf("making the base map: %+v", r)
		}
	}
	mkdir := func(t *testing.T, path string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(t *testing.T, old, new string) {
		t.Helper()
		if err := os.Symlink(old, new); err != nil {
			t.Fatal(err)
		}
	}
	type scenario struct {
		name     string
		setup    func(t *testing.T, dir string)
		umask    string
		input    string
		args     []string
		mapType  string // checked with compareMaps when set
		mapName  string
		needRoot bool
	}
	scenarios := []scenario{
		{name: "usage", args: nil},
		{name: "one operand", args: []string{"hash"}},
		{name: "bad option", args: []string{"-z", "hash", "m"}},
		{name: "missing argument", args: []string{"-v", "-t"}},
		{name: "-l", args: []string{"-l"}},
		{name: "-x", args: []string{"-x"}},
		{name: "-L", args: []string{"-L"}},
		{name: "-l after operands", args: []string{"hash", "m", "-l"}},
		{name: "-t eats l", args: []string{"-tl", "-N"}},
		{name: "empty separator", input: src, args: []string{"-C", "/dev/null", "-t", "", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "empty comment char", input: "#k v\n" + src, args: []string{"-C", "/dev/null", "-D", "", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "cache size", input: src, args: []string{"-C", "/dev/null", "-c", "junk", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "unknown type", input: src, args: []string{"-C", "/dev/null", "foo", "m"}},
		{name: "dbm type", input: src, args: []string{"-C", "/dev/null", "dbm", "m"}},
		{name: "missing cf", input: src, args: []string{"-C", "nope.cf", "hash", "m"}},
		{name: "missing cf before -u", args: []string{"-C", "nope.cf", "-u", "hash", "m"}},
		{name: "cf is a directory", input: src, args: []string{"-C", ".", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "db suffix kept", input: src, args: []string{"-C", "/dev/null", "hash", "m.db"}, mapType: "hash", mapName: "m.db"},
		{name: "cf type", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "k.cf"), "Kacc hash -T<TMPF> -o acc\nKbt btree bt\nKother hash\nKseq sequence seq\n", 0o644)
		}, input: src, args: []string{"-C", "k.cf", "cf", "bt"}, mapType: "btree", mapName: "bt"},
		{name: "cf type unknown class", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "k.cf"), "Kseq sequence seq\n", 0o644)
		}, input: src, args: []string{"-C", "k.cf", "cf", "seq"}},
		{name: "cf type not found", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "k.cf"), "Kacc hash acc.db\n", 0o644)
		}, input: src, args: []string{"-C", "k.cf", "cf", "acc"}},
		{name: "cf type fallback", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "k.cf"), "Kacc hash acc.db\n", 0o644)
		}, input: src, args: []string{"-C", "k.cf", "-i", "btree", "cf", "other"}, mapType: "btree", mapName: "other"},
		{name: "unknown TrustedUser", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "u.cf"), "O TrustedUser = nosuchuser9 \n", 0o644)
		}, input: src, args: []string{"-C", "u.cf", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "numeric TrustedUser", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "u.cf"), "O TrustedUser=4242\nOTrustedUser=bin\nO TrustedUsers=bin\n", 0o644)
		}, input: src, args: []string{"-C", "u.cf", "hash", "m"}, mapType: "hash", mapName: "m", needRoot: true},
		{name: "last TrustedUser wins", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "u.cf"), "O TrustedUser=bin\nO TrustedUser=daemon\n", 0o644)
		}, input: src, args: []string{"-C", "u.cf", "btree", "m"}, mapType: "btree", mapName: "m", needRoot: true},
		{name: "umask 077", umask: "077", input: src, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "umask 002", umask: "002", input: src, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "existing mode kept", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "m.db"), "", 0o604)
		}, input: src, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "existing owner kept", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "m.db"), "garbage", 0o640)
			if err := os.Chown(filepath.Join(d, "m.db"), 4242, 4243); err != nil {
				t.Fatal(err)
			}
		}, input: src, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m", needRoot: true},
		{name: "read-only map refused", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "m")
			os.Chmod(filepath.Join(d, "m.db"), 0o444)
		}, input: more, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "map of another user, group-writable", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "m")
			os.Chown(filepath.Join(d, "m.db"), 4242, os.Getgid())
			os.Chmod(filepath.Join(d, "m.db"), 0o660)
		}, input: more, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m", needRoot: true},
		{name: "map of another user, others write only", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "m")
			os.Chown(filepath.Join(d, "m.db"), 4242, 4243)
			os.Chmod(filepath.Join(d, "m.db"), 0o642)
		}, input: more, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m", needRoot: true},
		{name: "map of another user, others read-write", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "m")
			os.Chown(filepath.Join(d, "m.db"), 4242, 4243)
			os.Chmod(filepath.Join(d, "m.db"), 0o646)
		}, input: more, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "m", needRoot: true},
		{name: "map of TrustedUser", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "m")
			writeFile(t, filepath.Join(d, "u.cf"), "O TrustedUser=4242\n", 0o644)
			os.Chown(filepath.Join(d, "m.db"), 4242, 4243)
		}, input: more, args: []string{"-C", "u.cf", "hash", "m"}, mapType: "hash", mapName: "m", needRoot: true},
		{name: "-u of another user's unreadable map", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "m")
			os.Chown(filepath.Join(d, "m.db"), 4242, 4243)
			os.Chmod(filepath.Join(d, "m.db"), 0o600)
		}, args: []string{"-C", "/dev/null", "-u", "hash", "m"}, needRoot: true},
		{name: "existing garbage replaced", setup: func(t *testing.T, d string) {
			writeFile(t, filepath.Join(d, "m.db"), "this is not a database", 0o600)
		}, input: src, args: []string{"-C", "/dev/null", "btree", "m"}, mapType: "btree", mapName: "m"},
		{name: "map is a directory", setup: func(t *testing.T, d string) { mkdir(t, filepath.Join(d, "m.db"), 0o755) },
			input: src, args: []string{"-C", "/dev/null", "hash", "m"}},
		{name: "missing directory", input: src, args: []string{"-C", "/dev/null", "hash", "no/such/m"}},
		{name: "file in the path", setup: func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "f"), "", 0o644) },
			input: src, args: []string{"-C", "/dev/null", "hash", "f/m"}},
		{name: "world-writable directories", setup: func(t *testing.T, d string) {
			mkdir(t, filepath.Join(d, "ww", "sub"), 0o777)
			mkdir(t, filepath.Join(d, "ww"), 0o777)
		}, input: src, args: []string{"-C", "/dev/null", "hash", "ww/sub/m"}, mapType: "hash", mapName: "ww/sub/m"},
		{name: "world-writable dot and dotdot", setup: func(t *testing.T, d string) {
			mkdir(t, filepath.Join(d, "ww", "a"), 0o777)
			mkdir(t, filepath.Join(d, "ww"), 0o777)
		}, input: src, args: []string{"-C", "/dev/null", "hash", "./ww/./a/../a/m"}, mapType: "hash", mapName: "ww/a/m"},
		{name: "world-writable via symlinked directory", setup: func(t *testing.T, d string) {
			mkdir(t, filepath.Join(d, "ww"), 0o777)
			symlink(t, "ww", filepath.Join(d, "lnk"))
		}, input: src, args: []string{"-C", "/dev/null", "hash", "lnk/m"}, mapType: "hash", mapName: "ww/m"},
		{name: "symlink refused", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "target")
			symlink(t, "target.db", filepath.Join(d, "m.db"))
		}, input: more, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "target"},
		{name: "symlink followed with -s", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "target")
			symlink(t, "target.db", filepath.Join(d, "m.db"))
		}, input: more, args: []string{"-C", "/dev/null", "-s", "hash", "m"}, mapType: "hash", mapName: "target"},
		{name: "dangling symlink with -s", setup: func(t *testing.T, d string) {
			symlink(t, "nothere.db", filepath.Join(d, "m.db"))
		}, input: src, args: []string{"-C", "/dev/null", "-s", "hash", "m"}},
		{name: "hard link refused", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "target")
			if err := os.Link(filepath.Join(d, "target.db"), filepath.Join(d, "m.db")); err != nil {
				t.Fatal(err)
			}
		}, input: more, args: []string{"-C", "/dev/null", "hash", "m"}, mapType: "hash", mapName: "target"},
		{name: "hard link rewritten with -s", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "target")
			if err := os.Link(filepath.Join(d, "target.db"), filepath.Join(d, "m.db")); err != nil {
				t.Fatal(err)
			}
		}, input: more, args: []string{"-C", "/dev/null", "-s", "hash", "m"}, mapType: "hash", mapName: "target"},
		{name: "-o appends", setup: func(t *testing.T, d string) { base(t, d, "hash", "m") },
			input: more, args: []string{"-C", "/dev/null", "-o", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "-o -r", setup: func(t *testing.T, d string) { base(t, d, "btree", "m") },
			input: more, args: []string{"-C", "/dev/null", "-o", "-r", "btree", "m"}, mapType: "btree", mapName: "m"},
		{name: "-o on a -d map", setup: func(t *testing.T, d string) { base(t, d, "hash", "m", "-d") },
			input: more, args: []string{"-C", "/dev/null", "-o", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "-o -d on a -d map", setup: func(t *testing.T, d string) { base(t, d, "hash", "m", "-d") },
			input: more, args: []string{"-C", "/dev/null", "-o", "-d", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "-o -r on a -d map", setup: func(t *testing.T, d string) { base(t, d, "btree", "m", "-d") },
			input: more, args: []string{"-C", "/dev/null", "-o", "-r", "btree", "m"}, mapType: "btree", mapName: "m"},
		{name: "-o -d on a plain map", setup: func(t *testing.T, d string) { base(t, d, "hash", "m") },
			input: more, args: []string{"-C", "/dev/null", "-o", "-d", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "-o -N on a plain map", setup: func(t *testing.T, d string) { base(t, d, "hash", "m") },
			input: more, args: []string{"-C", "/dev/null", "-o", "-N", "hash", "m"}, mapType: "hash", mapName: "m"},
		{name: "-o wrong type", setup: func(t *testing.T, d string) { base(t, d, "hash", "m") },
			input: more, args: []string{"-C", "/dev/null", "-o", "btree", "m"}, mapType: "hash", mapName: "m"},
		{name: "-o implicit on btree", setup: func(t *testing.T, d string) { base(t, d, "btree", "m") },
			input: more, args: []string{"-C", "/dev/null", "-o", "implicit", "m"}, mapType: "btree", mapName: "m"},
		{name: "-o missing", input: more, args: []string{"-C", "/dev/null", "-o", "hash", "m"}},
		{name: "-o empty file", setup: func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "m.db"), "", 0o640) },
			input: more, args: []string{"-C", "/dev/null", "-o", "hash", "m"}},
		{name: "-u", setup: func(t *testing.T, d string) { base(t, d, "hash", "m", "-N") },
			args: []string{"-C", "/dev/null", "-u", "hash", "m"}},
		{name: "-u -t", setup: func(t *testing.T, d string) { base(t, d, "btree", "m", "-d") },
			args: []string{"-C", "/dev/null", "-u", "-t", ":", "btree", "m"}},
		{name: "-u implicit on btree", setup: func(t *testing.T, d string) { base(t, d, "btree", "m") },
			args: []string{"-C", "/dev/null", "-u", "implicit", "m"}},
		{name: "-u wrong type", setup: func(t *testing.T, d string) { base(t, d, "btree", "m") },
			args: []string{"-C", "/dev/null", "-u", "hash", "m"}},
		{name: "-u empty file", setup: func(t *testing.T, d string) { writeFile(t, filepath.Join(d, "m.db"), "", 0o640) },
			args: []string{"-C", "/dev/null", "-u", "hash", "m"}},
		{name: "-u missing", args: []string{"-C", "/dev/null", "-u", "hash", "m"}},
		{name: "-u symlink refused", setup: func(t *testing.T, d string) {
			base(t, d, "hash", "target")
			symlink(t, "target.db", filepath.Join(d, "m.db"))
		}, args: []string{"-C", "/dev/null", "-u", "hash", "m"}},
		{name: "-u world-writable", setup: func(t *testing.T, d string) {
			mkdir(t, filepath.Join(d, "ww"), 0o777)
			base(t, d, "hash", "ww/m")
		}, args: []string{"-C", "/dev/null", "-u", "hash", "ww/m"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if sc.needRoot && !root {
				testutil.RequireRoot(t, "the scenario compares file owners")
			}
			p := newPair(t, func(d string) {
				if sc.setup != nil {
					sc.setup(t, d)
				}
			})
			var in []byte
			if sc.input != "" {
				in = []byte(sc.input)
			}
			compareRun(t, tl, p, sc.umask, in, sc.args...)
			if sc.mapType != "" {
				compareMaps(t, tl, p, sc.mapType, sc.mapName)
			}
			if sc.name == "hard link rewritten with -s" {
				so := stateOf(filepath.Join(p.ours, "m.db"))
				if so.Nlink != 2 {
					t.Errorf("our makemap broke the hard link: nlink %d", so.Nlink)
				}
			}
		})
	}
}
