// SPDX-License-Identifier: MIT

package privsep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"mailsuite/internal/testutil"
)

// helperEnv makes the test binary run privGroupHelper (as a worker
// started as root would) instead of the tests.
const helperEnv = "PRIVSEP_TEST_PRIVGROUP"

func TestMain(m *testing.M) {
	if _, ok := os.LookupEnv(workerEnv); ok {
		os.Exit(poolWorker())
	}
	if _, ok := os.LookupEnv(ttyRootEnv); ok {
		os.Exit(ttyRoot())
	}
	if dir, ok := os.LookupEnv(helperEnv); ok {
		if err := privGroupHelper(dir); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("PASS")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	testUID  = 5001
	testGID  = 5001
	testPriv = 5099 // a group the user is no member of
)

// privGroupHelper drops as a worker does, then checks that the
// privileged group is reachable only inside Run, on Run's thread: dir/priv
// is 0770 root:testPriv (no setgid bit, so a file's group is its
// creator's effective gid) and dir/open is 1777.
func privGroupHelper(dir string) error {
	pg, err := dropPrivileges()
	if err != nil {
		return err
	}
	if pg == nil {
		return errors.New("no privileged group after the drop")
	}
	if _, err := os.Create(filepath.Join(dir, "priv", "outside")); !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("created a file in the group's directory outside Run: %v", err)
	}
	// While Run's function waits, other goroutines on other threads
	// create files: none may get the privileged group.
	var bad atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := filepath.Join(dir, "open", fmt.Sprintf("g%d-%d", i, n))
				f, err := os.Create(p)
				if err != nil {
					bad.Add(1)
					return
				}
				fi, _ := f.Stat()
				f.Close()
				os.Remove(p)
				if fi.Sys().(*syscall.Stat_t).Gid != testGID {
					bad.Add(1)
				}
			}
		}()
	}
	var gid uint32
	err = pg.Run(func() error {
		f, err := os.Create(filepath.Join(dir, "priv", "inside"))
		if err != nil {
			return err
		}
		defer f.Close()
		fi, _ := f.Stat()
		gid = fi.Sys().(*syscall.Stat_t).Gid
		for range 200 {
			// Let the other goroutines run meanwhile.
			st, err := os.ReadFile("/proc/thread-self/status")
			if err != nil {
				return err
			}
			if !strings.Contains(string(st), fmt.Sprintf("\nGid:\t%d\t%d\t%d\t%d\n", testGID, testPriv, testPriv, testPriv)) {
				return fmt.Errorf("Run's thread:\n%s", st)
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("Run: %w", err)
	}
	if gid != testPriv {
		return fmt.Errorf("file created in Run has group %d, want %d", gid, testPriv)
	}
	if n := bad.Load(); n > 0 {
		return fmt.Errorf("%d files created by other goroutines during Run got the privileged group", n)
	}
	if err := pg.Run(func() error { return errors.New("inner") }); err == nil || err.Error() != "inner" {
		return fmt.Errorf("Run lost fn's error: %v", err)
	}
	// Every thread is back to the user's gid.
	if err := checkThreads(map[string]string{"Gid": fmt.Sprintf("%d %d %d %d", testGID, testGID, testPriv, testGID)}); err != nil {
		return err
	}
	if _, err := os.Create(filepath.Join(dir, "priv", "after")); !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("created a file in the group's directory after Run: %v", err)
	}
	return nil
}

// TestPrivGroupRun starts the test binary as a worker with a privileged
// group would be (root, the user's groups, dropEnv) and runs
// privGroupHelper in it.
func TestPrivGroupRun(t *testing.T) {
	testutil.RequireRoot(t, "dropping to a user with a saved gid needs root")
	dir, err := os.MkdirTemp("", "privgroup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for name, mode := range map[string]os.FileMode{"priv": 0o770, "open": 0o777 | os.ModeSticky} {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, 0, testPriv)
		os.Chmod(p, mode)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{helperEnv + "=" + dir, fmt.Sprintf("%s=%d:%d:%d", dropEnv, testUID, testGID, testPriv)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{testGID}}}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "PASS" {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(dir, "priv", "inside"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != testUID || st.Gid != testPriv {
		t.Errorf("file made in Run: %d:%d, want %d:%d", st.Uid, st.Gid, testUID, testPriv)
	}
}

// TestDropRefusesRoot: a worker never serves as root, whether it was
// started as root without an identity or was given uid 0.
func TestDropRefusesRoot(t *testing.T) {
	t.Setenv(dropEnv, "0:0:8")
	if _, err := dropPrivileges(); err == nil {
		t.Fatal("dropPrivileges accepted uid 0")
	}
	os.Unsetenv(dropEnv)
	if os.Geteuid() == 0 {
		if _, err := dropPrivileges(); err == nil {
			t.Fatal("a worker without an identity would run as root")
		}
	} else if pg, err := dropPrivileges(); err != nil || pg != nil {
		t.Fatalf("a worker started as its user: %v, %v", pg, err)
	}
	t.Setenv(dropEnv, "5001:5001")
	if _, err := dropPrivileges(); err == nil {
		t.Fatal("dropPrivileges accepted a malformed identity")
	}
}

// FuzzParseIdentity: dropEnv's value parses to three ids, none 0 or -1,
// that print back to it, or is refused.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"5001:5001:8", "0:0:8", "1:2", "1:2:3:4", "x:1:2", "4294967295:1:1", "+1:1:1", "01:1:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		uid, gid, priv, err := parseIdentity(v)
		if err != nil {
			return
		}
		for _, id := range []uint32{uid, gid, priv} {
			if id == 0 || id == 1<<32-1 {
				t.Fatalf("%q gave id %d", v, id)
			}
		}
		var u, g, p uint64
		if n, _ := fmt.Sscanf(v, "%d:%d:%d", &u, &g, &p); n != 3 || uint32(u) != uid || uint32(g) != gid || uint32(p) != priv {
			t.Fatalf("%q gave %d:%d:%d", v, uid, gid, priv)
		}
	})
}
