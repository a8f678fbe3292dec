// SPDX-License-Identifier: MIT

package deliver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileMailer: the *file* mailer appends mbox entries (creating the
// file 0600), refuses a symbolic link as EX_CANTCREAT, and a failing
// message leaves the file as it was.
func TestFileMailer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "copy")
	f := &File{Path: path, Sender: "a@hamap.local", Now: fixedNow}
	for _, body := range []string{"Subject: one\n\nFrom here\n", "Subject: two\n\nbody\n"} {
		if st := f.Deliver(context.Background(), strings.NewReader(body)); st.Code != ExOK {
			t.Fatalf("deliver: %+v", st)
		}
	}
	b, _ := os.ReadFile(path)
	want := "From a@hamap.local  Fri Nov 27 01:01:09 2026\nSubject: one\n\n>From here\n\n" +
		"From a@hamap.local  Fri Nov 27 01:01:09 2026\nSubject: two\n\nbody\n\n"
	if string(b) != want {
		t.Errorf("file:\n%q\nwant\n%q", b, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if st := f.Deliver(context.Background(), &failingReader{r: strings.NewReader("Subject: three\n\nx\n")}); st.Code != ExIOErr {
		t.Errorf("failing message: %+v", st)
	}
	if b2, _ := os.ReadFile(path); string(b2) != want {
		t.Errorf("file changed by a failed delivery:\n%q", b2)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if st := (&File{Path: link, Sender: "a@hamap.local"}).Deliver(context.Background(), strings.NewReader("x\n")); st.Code != ExCantCreat {
		t.Errorf("symlink: %+v, want EX_CANTCREAT", st)
	}
}
