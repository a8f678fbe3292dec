// SPDX-License-Identifier: MIT

//go:build linux && !386 && !arm

package privsep

import "golang.org/x/sys/unix"

// sysSetresgid is the setresgid system call.
const sysSetresgid = unix.SYS_SETRESGID
