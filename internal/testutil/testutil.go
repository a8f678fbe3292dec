// SPDX-License-Identifier: MIT

// Package testutil holds helpers shared by mailsuite's tests: finding the
// Debian reference programs that differential tests compare against, and
// the shared test vectors beside the checkout.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// reference program is a failure rather than a reason to skip.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// Oracle returns the path of the reference program name (looked up in PATH
// and then in /usr/sbin and /usr/bin). When it is missing, the test is
// skipped with a message naming the Debian package that ships it, or fails
// when running in CI, where .ci/run installs every oracle.
func Oracle(t testing.TB, name, debPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/lib/sendmail"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := "reference program " + name + " not found (Debian package " + debPackage + "); install it to run this differential test"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// RequireRoot skips the test (or fails it in CI) unless it runs as root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "needs root: " + why
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RepoRoot returns the top of the checkout (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testutil: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedTestdata returns the path of ../shared/testdata/<sub> beside the
// checkout, where the vectors made with the real tools live. The test is
// skipped (or fails in CI) when the folder is absent.
func SharedTestdata(t testing.TB, sub string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "..", "shared", "testdata", sub)
	if _, err := os.Stat(p); err != nil {
		msg := "shared test vectors not found at " + p
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}
