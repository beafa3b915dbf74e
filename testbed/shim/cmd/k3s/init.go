package main

// A minimal init for when `k3s server` is PID 1 of a container.
//
// containerd's runc shims daemonize: once their starter exits they are
// re-parented to PID 1, and so are the processes of every pod. PID 1 must
// reap them or they stay zombies. Reaping with wait4(-1) inside the server
// process would race with os/exec's own Wait for the components, so, like
// tini, PID 1 only forwards signals and reaps, and the server runs as its
// child (the same executable, marked by an environment variable).

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const initChildEnv = "K3SBOX_INIT_CHILD"

// runAsInit reports whether this process should act as the container's init
// and, if so, runs it and never returns.
func runAsInit() {
	if os.Getpid() != 1 || os.Getenv(initChildEnv) != "" {
		return
	}
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD)
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), initChildEnv+"=1"),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	}
	child, err := os.StartProcess(self, os.Args, attr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "k3s init: starting the server: %v\n", err)
		os.Exit(1)
	}
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			_ = child.Signal(sig)
			continue
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			if pid == child.Pid {
				// Exiting ends the container: the kernel kills whatever
				// (pods, shims) is still running in this PID namespace.
				if status.Signaled() {
					os.Exit(128 + int(status.Signal()))
				}
				os.Exit(status.ExitStatus())
			}
		}
	}
}
