// SPDX-License-Identifier: MIT

package makemap

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArgs(t *testing.T) {
	base := func(f func(*Options)) Options {
		o := Options{CF: "/etc/mail/sendmail.cf", Type: "hash", Map: "m"}
		o.Comment = '#'
		if f != nil {
			f(&o)
		}
		return o
	}
	tests := []struct {
		name string
		args []string
		want Options
		list list
		err  string // "" for none; "usage" for a bare usage error
		warn string
	}{
		{"plain", []string{"hash", "m"}, base(nil), listNone, "", ""},
		{"flags grouped", []string{"-Nderfosuv", "hash", "m"}, base(func(o *Options) {
			o.IncludeNull, o.Duplicates, o.AllowEmpty, o.Replace, o.KeepCase = true, true, true, true, true
			o.Append, o.Unsafe, o.Dump, o.Verbose = true, true, true, true
		}), listNone, "", ""},
		{"args attached and separate", []string{"-t:", "-D", ";", "-Ccf", "-c", "x", "-i", "btree", "hash", "m"}, base(func(o *Options) {
			o.Sep, o.Comment, o.CF, o.Fallback = ':', ';', "cf", "btree"
		}), listNone, "", ""},
		{"operands first", []string{"hash", "m", "-v"}, base(func(o *Options) { o.Verbose = true }), listNone, "", ""},
		{"double dash", []string{"--", "hash", "m"}, base(nil), listNone, "", ""},
		{"empty comment char", []string{"-D", "", "hash", "m"}, base(func(o *Options) { o.Comment = 0 }), listNone, "", ""},
		{"empty separator", []string{"-t", "", "hash", "m"}, base(nil), listNone, "", "Invalid separator\n"},
		{"list", []string{"-l", "-z"}, Options{}, listTypes, "", ""},
		{"list ext", []string{"hash", "-x"}, Options{}, listTypesExt, "", ""},
		{"list cf", []string{"-L"}, Options{}, listTypesCF, "", ""},
		{"t eats l", []string{"-tl", "-N"}, Options{}, listNone, "usage", ""},
		{"bad option", []string{"-z", "-l"}, Options{}, listNone, "/x/makemap: invalid option -- 'z'\n", ""},
		{"missing arg", []string{"-v", "-t"}, Options{}, listNone, "/x/makemap: option requires an argument -- 't'\n", ""},
		{"three operands", []string{"hash", "a", "b"}, Options{}, listNone, "usage", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var warn string
			o, l, err := parseArgs("/x/makemap", tc.args, func(s string) { warn += s })
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tc.err)
				}
				if want := tc.err; want != "usage" && err.Error() != want {
					t.Errorf("error %q, want %q", err.Error(), want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l != tc.list {
				t.Fatalf("list %d, want %d", l, tc.list)
			}
			if warn != tc.warn {
				t.Errorf("warning %q, want %q", warn, tc.warn)
			}
			if l != listNone {
				return
			}
			if diff := cmp.Diff(tc.want, o); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	want := "Usage: zz [-C cffile] [-N] [-c cachesize] [-D commentchar]\n" +
		"          [-d] [-e] [-f] [-i type] [-l] [-o] [-r] [-s] [-t delimiter]\n" +
		"          [-u] [-v] type mapname\n"
	if diff := cmp.Diff(want, usage(progName("./zz"))); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestAtoiUID(t *testing.T) {
	for in, want := range map[string]uint32{"12abc": 12, "4242": 4242, "99999999999": 1215752191, "99999999999999999999999": 0xffffffff} {
		if got := atoiUID(in); got != want {
			t.Errorf("atoiUID(%q) = %d, want %d", in, got, want)
		}
	}
}
