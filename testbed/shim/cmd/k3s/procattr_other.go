//go:build !linux

package main

import "syscall"

// childProcAttr: see procattr_linux.go; the test image and hosts are Linux.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
