// SPDX-License-Identifier: MIT

package cf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestClassReference: "CR$={VirtHost}", as VIRTUSER_DOMAIN writes it,
// adds the members the class has when the line is read (the real
// sendmail -bt prints virt.test for $=R on such a cf); an undefined class
// adds nothing, and a word that merely contains "$=" stays literal.
func TestClassReference(t *testing.T) {
	src := "V10/Berkeley\nC{VirtHost}virt.test other.test\nCRrelay.test $={VirtHost}\nCX$=Y\nCZa$=b $={un\nC{VirtHost}late.test\n"
	c, err := Parse(strings.NewReader(src), "t.cf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for class, want := range map[string][]string{
		"R":        {"relay.test", "virt.test", "other.test"},
		"X":        nil,
		"Z":        {"a$=b", "$={un"},
		"VirtHost": {"virt.test", "other.test", "late.test"},
	} {
		if got := c.Class(class); !cmp.Equal(got, want) {
			t.Errorf("class %s: %q, want %q", class, got, want)
		}
	}
}
