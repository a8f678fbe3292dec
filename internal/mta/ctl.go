// SPDX-License-Identifier: MIT

package mta

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"mailsuite/internal/aliases"
	"mailsuite/internal/deliver"
	"mailsuite/internal/queue"
	"mailsuite/pkg/cf"
)

// The controlling user of a queued program or file recipient is kept
// in the qf's C line as sendmail's printctladdr writes it:
// "<login>:<uid>:<gid>:<address>".

// ctlText returns the C line value for ctl, or old when ctl is nil.
func ctlText(ctl *aliases.Ctl, addr, old string) string {
	if ctl == nil {
		return old
	}
	return ctl.Name + ":" + strconv.Itoa(ctl.UID) + ":" + strconv.Itoa(ctl.GID) + ":" + addr
}

// parseCtl reads a C line value back; a value without ids (a plain
// address, as for SMTP recipients) is no controlling user.
func parseCtl(s string) *aliases.Ctl {
	f := strings.SplitN(s, ":", 4)
	if len(f) < 3 {
		return nil
	}
	uid, err1 := strconv.Atoi(f[1])
	gid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return nil
	}
	return &aliases.Ctl{Name: f[0], UID: uid, GID: gid}
}

// writeFile delivers to a "/path" target through sendmail's *file*
// mailer: as root, the file is written by a child running as the
// controlling user (else DefaultUser), as sendmail's mailfile does.
func (m *MTA) writeFile(ctx context.Context, de *deliver.Envelope, dfPath string, env *queue.Envelope, r queue.Recipient, path string, ctl *aliases.Ctl) outcome {
	mailer := m.cf.Mailers["*file*"]
	if mailer == nil {
		mailer = &cf.Mailer{Name: "*file*", Flags: "lsDFMPEouq9"}
	}
	return m.deliverAs(ctx, de, dfPath, env, r, mailer, false, ctl, func(msg io.Reader, cred *syscall.Credential) deliver.Status {
		f := &deliver.File{Path: path, Sender: de.Sender, Now: m.now}
		if cred != nil {
			f.Cred = cred
			if exe, err := os.Executable(); err == nil {
				f.Helper = []string{exe, deliver.FileHelperArg}
			}
		}
		return f.Deliver(ctx, msg)
	})
}
