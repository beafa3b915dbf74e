package main

import "syscall"

// childProcAttr puts each component in its own process group, so a Ctrl-C
// in a terminal reaches only the shim (which then stops the components in
// an orderly way), and asks the kernel to SIGKILL the component if the shim
// dies without cleaning up (e.g. SIGKILL), so nothing is left behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
