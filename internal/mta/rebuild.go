// SPDX-License-Identifier: MIT

package mta

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mailsuite/internal/maillog"
	"mailsuite/pkg/mc"
)

// RebuildCF compiles the sendmail.mc next to cfPath (same directory, same
// base name, ".mc" for ".cf") into cfPath when the mc is newer than the cf
// or the cf is missing, through a temporary file renamed into place, and
// logs that it did. It reports whether the cf was rebuilt; without an mc
// it does nothing.
func RebuildCF(cfPath string, log *maillog.Logger) (bool, error) {
	mcPath := strings.TrimSuffix(cfPath, ".cf") + ".mc"
	mst, err := os.Stat(mcPath)
	if err != nil {
		return false, nil
	}
	if cst, err := os.Stat(cfPath); err == nil && !mst.ModTime().After(cst.ModTime()) {
		return false, nil
	}
	src, err := os.Open(mcPath)
	if err != nil {
		return false, fmt.Errorf("rebuild cf: %w", err)
	}
	defer src.Close()
	var out, diag bytes.Buffer
	if err := mc.Compile(mcPath, src, &out, mc.CompileOptions{Stderr: &diag, IncludeDirs: []string{filepath.Dir(mcPath)}}); err != nil {
		return false, fmt.Errorf("rebuild cf from %s: %w: %s", mcPath, err, strings.TrimSpace(diag.String()))
	}
	tmp, err := os.CreateTemp(filepath.Dir(cfPath), ".sendmail.cf-*")
	if err != nil {
		return false, fmt.Errorf("rebuild cf: %w", err)
	}
	_, err = tmp.Write(out.Bytes())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), cfPath)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("rebuild cf: %w", err)
	}
	if log != nil {
		log.Logf(maillog.MailInfo, "%s rebuilt from %s", cfPath, mcPath)
	}
	return true, nil
}
