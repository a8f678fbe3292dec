// SPDX-License-Identifier: MIT

//go:build linux && (386 || arm)

package privsep

import "golang.org/x/sys/unix"

// sysSetresgid is setresgid with 32-bit group ids (the plain call takes
// 16-bit ones on these architectures).
const sysSetresgid = unix.SYS_SETRESGID32
