// SPDX-License-Identifier: MIT

package mta

import (
	"strconv"
	"strings"

	"mailsuite/internal/aliases"
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
