// SPDX-License-Identifier: MIT

package deliver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailsuite/pkg/mbox"
)

// File is sendmail's *file* mailer: it appends the message to Path in
// mbox form (a From_ line, ">From " quoting, a final empty line), under
// an fcntl lock, and syncs it. The message comes with the headers the
// mailer's flags ask for (NewMessage; *file* has P, so Return-Path).
//
// Running as root, sendmail writes the file as the controlling user of
// the address (MailerCredential). A Go process cannot change its own
// ids for one write, so then the write happens in a child started with
// those credentials: Helper is the argv that runs this program's file
// writer (RunFileHelper), normally {os.Executable(), FileHelperArg}.
type File struct {
	Path   string
	Sender string
	// Cred, when set, is who writes the file (through Helper).
	Cred   *syscall.Credential
	Helper []string
	// Now gives the From_ line's time; nil means time.Now.
	Now func() time.Time
}

// FileHelperArg is the first argument that makes sendmaild run
// RunFileHelper instead of its normal work.
const FileHelperArg = "--mailsuite-file-delivery"

// Deliver writes msg to the file and returns the Status sendmail logs:
// a file that cannot be opened or created is EX_CANTCREAT ("Can't
// create output"), a failed write or sync EX_IOERR (the file is cut back
// to its old size).
func (f *File) Deliver(ctx context.Context, msg io.Reader) Status {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	t := now()
	if f.Cred == nil {
		return fileStatus(AppendFile(f.Path, f.Sender, t, msg))
	}
	if len(f.Helper) == 0 {
		st := StatusFor(ExTempFail, "")
		st.Detail = "no file delivery helper"
		return st
	}
	args := append(append([]string(nil), f.Helper[1:]...), f.Path, f.Sender, strconv.FormatInt(t.Unix(), 10))
	cmd := exec.CommandContext(ctx, f.Helper[0], args...)
	cmd.Args[0] = f.Helper[0]
	cmd.Dir = "/"
	cmd.Env = []string{"AGENT=sendmail"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: f.Cred}
	cmd.Stdin = msg
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return StatusFor(ExOK, "")
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		st := StatusFor(ee.ExitCode(), "")
		st.Detail = strings.TrimSpace(out.String())
		return st
	default:
		st := StatusFor(ExTempFail, "")
		st.Detail = err.Error()
		return st
	}
}

func fileStatus(err error) Status {
	if err == nil {
		return StatusFor(ExOK, "")
	}
	code := ExIOErr
	var ce *cantCreate
	if errors.As(err, &ce) {
		code = ExCantCreat
	}
	st := StatusFor(code, "")
	st.Detail = err.Error()
	return st
}

// cantCreate is a file that could not be opened or created.
type cantCreate struct{ err error }

func (c *cantCreate) Error() string { return c.err.Error() }
func (c *cantCreate) Unwrap() error { return c.err }

// AppendFile appends one mbox entry to path as the calling process: the
// file is created 0600 if missing, never through a symbolic link, and
// must be a regular file; the write happens under an fcntl lock and is
// synced, and cut back to the old size when it fails.
func AppendFile(path, sender string, t time.Time, msg io.Reader) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, 0o600)
	if err != nil {
		return &cantCreate{fmt.Errorf("open %s: %w", path, err)}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &cantCreate{fmt.Errorf("%s: not a regular file", path)}
	}
	lk, err := mbox.LockFile(context.Background(), f, path, true, mbox.LockOptions{NoDotlock: true})
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	old := st.Size
	bw := bufio.NewWriterSize(f, 64<<10)
	err = WriteMbox(bw, sender, t, msg)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Truncate(old)
		f.Sync()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// RunFileHelper is the child side of File.Deliver: args are the path,
// the sender and the From_ time (Unix seconds); the message is on
// stdin. It returns the process's exit status.
func RunFileHelper(args []string, stdin io.Reader) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "file delivery: want path, sender and time")
		return ExUsage
	}
	sec, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "file delivery:", err)
		return ExUsage
	}
	st := fileStatus(AppendFile(args[0], args[1], time.Unix(sec, 0), stdin))
	if st.Code != ExOK {
		fmt.Fprintln(os.Stderr, st.Detail)
	}
	return st.Code
}
