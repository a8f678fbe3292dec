// SPDX-License-Identifier: MIT

package makemap

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDirWarnings checks which directories draw "World writable
// directory" warnings, as recorded from the real makemap: each prefix of
// the path, "." for a bare name, none for a prefix ending in "/." or
// "/..", and a symbolic link's target path instead of the link.
func TestDirWarnings(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"ww/a", "ww/b", "ok"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"ww", "ww/a"} {
		os.Chmod(filepath.Join(root, d), 0o777)
	}
	os.Symlink("ww", filepath.Join(root, "rel"))
	os.Symlink(filepath.Join(root, "ww"), filepath.Join(root, "abs"))
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(root); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want []string
		err  error
	}{
		{"m.db", nil, nil},
		{"ww/m.db", []string{"ww"}, nil},
		{"ww/a/m.db", []string{"ww", "ww/a"}, nil},
		{"ww/b/m.db", []string{"ww"}, nil},
		// "." is checked (it is not world-writable here), "./ww/." is
		// skipped.
		{"./ww/./a/m.db", []string{"./ww", "./ww/./a"}, nil},
		{"ok/../ww/a/m.db", []string{"ok/../ww", "ok/../ww/a"}, nil},
		{"ww/a/./m.db", []string{"ww", "ww/a"}, nil},
		{"rel/m.db", []string{"ww"}, nil},
		{"abs/a/m.db", []string{root + "/ww", root + "/ww/a"}, nil},
		{"nodir/m.db", nil, syscall.ENOENT},
		{"file/m.db", nil, syscall.EACCES},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			var got []string
			err := dirChecker{func(s string) {
				got = append(got, strings.TrimSuffix(strings.TrimPrefix(s, "WARNING: World writable directory "), "\n"))
			}}.check(tc.path)
			if strings.HasPrefix(tc.path, "abs/") {
				// The link's target is absolute: its own ancestors
				// (the temporary directory's, like /tmp) are checked
				// too; only the part under root is ours to predict.
				var under []string
				for _, g := range got {
					if strings.HasPrefix(g, root+"/") {
						under = append(under, g)
					}
				}
				got = under
			}
			if err != tc.err {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPermitted(t *testing.T) {
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	other := uid + 4242
	tests := []struct {
		name    string
		st      syscall.Stat_t
		write   bool
		trusted uint32
		want    bool
	}{
		{"own rw", syscall.Stat_t{Uid: uid, Gid: gid, Mode: 0o600}, true, 0, true},
		{"own read-only", syscall.Stat_t{Uid: uid, Gid: gid, Mode: 0o444}, true, 0, false},
		{"own read-only, reading", syscall.Stat_t{Uid: uid, Gid: gid, Mode: 0o444}, false, 0, true},
		{"group rw", syscall.Stat_t{Uid: other, Gid: gid, Mode: 0o660}, true, 0, true},
		{"group write only", syscall.Stat_t{Uid: other, Gid: gid, Mode: 0o620}, true, 0, false},
		{"others rw", syscall.Stat_t{Uid: other, Gid: gid + 1, Mode: 0o646}, true, 0, true},
		{"others write only", syscall.Stat_t{Uid: other, Gid: gid + 1, Mode: 0o642}, true, 0, false},
		{"others nothing", syscall.Stat_t{Uid: other, Gid: gid + 1, Mode: 0o600}, false, 0, false},
	}
	if uid == 0 {
		tests = append(tests,
			struct {
				name    string
				st      syscall.Stat_t
				write   bool
				trusted uint32
				want    bool
			}{"trusted owner", syscall.Stat_t{Uid: other, Gid: gid + 1, Mode: 0o640}, true, other, true})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := permitted(&tc.st, tc.write, tc.trusted); got != tc.want {
				t.Errorf("permitted = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadCF(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	tests := []struct {
		name    string
		cf      string
		uid     uint32
		classes map[string]string
		warn    string
	}{
		{"none", "V10/Berkeley\n", 0, map[string]string{}, ""},
		{"numeric", "O TrustedUser=4242\n", 4242, map[string]string{}, ""},
		{"numeric prefix", "O TrustedUser= 12abc\n", 12, map[string]string{}, ""},
		{"by name", "O TrustedUser=" + me.Username + "\n", uidOf(me), map[string]string{}, ""},
		{"unknown keeps trailing blank", "O TrustedUser = nosuchuser9 \n", 0, map[string]string{}, "TrustedUser: unknown user nosuchuser9 \n"},
		{"last wins", "O TrustedUser=7\nO TrustedUser=8\n", 8, map[string]string{}, ""},
		{"case-insensitive name", "O trusteduser=9\n", 9, map[string]string{}, ""},
		{"not the option", "O TrustedUsers=9\nOTrustedUser=9\nO TrustedUser\n", 0, map[string]string{}, ""},
		{"K lines", "Kaccess hash -T<TMPF> -o /etc/mail/access\nKbt btree /x/bt.db\nKshort hash\nKdup btree /etc/mail/access\n", 0,
			map[string]string{"/etc/mail/access": "hash", "/x/bt.db": "btree"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var warn string
			info := readCF(strings.NewReader(tc.cf), func(s string) { warn += s })
			if info.trustedUID != tc.uid {
				t.Errorf("TrustedUser uid %d, want %d", info.trustedUID, tc.uid)
			}
			if diff := cmp.Diff(tc.classes, info.classes); diff != "" {
				t.Errorf("K lines (-want +got):\n%s", diff)
			}
			if warn != tc.warn {
				t.Errorf("warning %q, want %q", warn, tc.warn)
			}
		})
	}
}

func uidOf(u *user.User) uint32 {
	var n uint32
	for _, c := range u.Uid {
		n = n*10 + uint32(c-'0')
	}
	return n
}
