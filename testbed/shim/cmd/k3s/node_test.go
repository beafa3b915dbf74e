package main

import "testing"

func TestContainerEvidence(t *testing.T) {
	cases := []struct {
		name                   string
		env, mountinfo, cgroup string
		want                   bool
	}{
		{"podman sets $container", "podman", "", "", true},
		{"docker's resolv.conf bind", "", "612 590 0:26 /var/lib/docker/containers/abc/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw\n", "", true},
		{"podman's userdata bind", "", "5 1 0:2 /containers/storage/overlay-containers/abc/userdata/hostname /etc/hostname rw - tmpfs t rw\n", "", true},
		{"cgroup v1 docker path", "", "", "12:pids:/docker/abc\n", true},
		{"cgroup v1 libpod path", "", "", "9:name=systemd:/libpod_parent/libpod-abc\n", true},
		{"a host", "", "1 0 0:1 / / rw - ext4 /dev/vda rw\n", "12:pids:/user.slice\n", false},
	}
	for _, c := range cases {
		if got := containerEvidence(c.env, c.mountinfo, c.cgroup); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
