package main

import (
	"reflect"
	"testing"
)

// Mount tables as Docker 29 (privileged, --cgroupns host) and Docker 20.10
// (the capability fallback's bind of the host's /sys/fs/cgroup) leave them.
const docker29Mountinfo = `85 70 0:51 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
87 86 0:29 /k3sbox-docker29/abc /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu
95 86 0:32 /k3sbox-docker29/abc /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
96 86 0:33 /k3sbox-docker29/abc /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,name=systemd
97 86 0:34 /k3sbox-docker29/abc /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
`

const hostBindMountinfo = `91 85 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
92 91 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
95 91 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`

func TestCgroupBindsForControllerMountsAtTheOwnCgroup(t *testing.T) {
	got := cgroupBinds(docker29Mountinfo, "/k3sbox-docker29/abc")
	want := []cgroupBind{
		{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu/k3sbox-docker29/abc"},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/k3sbox-docker29/abc"},
		{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/systemd/k3sbox-docker29/abc"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("binds: got %v, want %v", got, want)
	}
}

func TestCgroupBindsNoneWhenTheHierarchyRootIsMounted(t *testing.T) {
	if got := cgroupBinds(hostBindMountinfo, "/docker/abc"); len(got) != 0 {
		t.Fatalf("binds: got %v, want none", got)
	}
	if got := cgroupBinds(docker29Mountinfo, "/"); len(got) != 0 {
		t.Fatalf("binds for the root cgroup: got %v, want none", got)
	}
}

func TestCgroupBindsSkipsTargetsAlreadyMounted(t *testing.T) {
	done := docker29Mountinfo + "120 95 0:32 /k3sbox-docker29/abc /sys/fs/cgroup/memory/k3sbox-docker29/abc rw - cgroup cgroup rw,memory\n"
	for _, b := range cgroupBinds(done, "/k3sbox-docker29/abc") {
		if b.source == "/sys/fs/cgroup/memory" {
			t.Fatalf("memory is bound already, got %v again", b)
		}
	}
}
