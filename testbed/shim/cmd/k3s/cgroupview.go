package main

// Docker 25 and later mount each cgroup v1 controller of a privileged
// container at the container's own cgroup, even with --cgroupns host:
// /sys/fs/cgroup/memory is then /docker/<id> of the host, while
// /proc/self/cgroup still names /docker/<id>. The kubelet and this entry
// address cgroups by that absolute path, so, as kind's entrypoint does, the
// mount is bound onto itself at that path: /sys/fs/cgroup/memory/docker/<id>
// is the container's cgroup again. Older Dockers (and the capability
// fallback's bind of the host's /sys/fs/cgroup) mount the hierarchy root,
// and nothing is done.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// cgroupBind is one bind mount that makes ownPath resolve under a v1
// controller mount rooted at the container's own cgroup.
type cgroupBind struct{ source, target string }

// cgroupBinds reads /proc/self/mountinfo text: every cgroup (v1) mount at
// /sys/fs/cgroup/<controller> whose root is ownPath gets bound onto
// <mountpoint><ownPath>, unless something is mounted there already.
func cgroupBinds(mountinfo, ownPath string) []cgroupBind {
	if ownPath == "" || ownPath == "/" {
		return nil
	}
	type mount struct{ root, mountpoint, fstype string }
	var mounts []mount
	mounted := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional…] - fstype source super
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i >= 5 && i+1 < len(fields) {
				mounts = append(mounts, mount{root: fields[3], mountpoint: fields[4], fstype: fields[i+1]})
				mounted[fields[4]] = true
				break
			}
		}
	}
	var binds []cgroupBind
	for _, m := range mounts {
		target := filepath.Join(m.mountpoint, ownPath)
		if m.fstype == "cgroup" && m.root == ownPath && filepath.Dir(m.mountpoint) == "/sys/fs/cgroup" && !mounted[target] {
			binds = append(binds, cgroupBind{source: m.mountpoint, target: target})
		}
	}
	return binds
}

// exposeOwnCgroup makes /sys/fs/cgroup/<controller>/<own path> this
// container's cgroup (see the top of this file). Idempotent.
func exposeOwnCgroup(ownPath string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, b := range cgroupBinds(string(data), ownPath) {
		if err := os.MkdirAll(b.target, 0o755); err != nil {
			return fmt.Errorf("cgroup view: %w", err)
		}
		if err := syscall.Mount(b.source, b.target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("cgroup view: binding %s onto %s: %w", b.source, b.target, err)
		}
	}
	return nil
}
