// Command k3s is the k3s-compatible entry point of the k3sbox test image.
//
// Real k3s cannot run where the test suites run (no image pulls, no
// privileged containers), so this multi-call binary accepts the k3s command
// line the library uses and runs real upstream components instead: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, and kwok in place
// of a kubelet (it keeps one fake Node Ready and drives Pods on it to
// Running). Those binaries are found next to this executable or in
// $K3S_BIN_DIR.
//
//	k3s server [flags]     run a single-node control plane (see flags.go)
//	k3s agent [flags]      join a server as another node (see agent.go)
//	k3s kubectl [args]     kubectl with KUBECONFIG defaulting to k3s.yaml
//	kubectl [args]         the same, when invoked through a symlink
//	k3s --version
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// kubeVersion is the Kubernetes version of the bundled binaries; build.sh
// sets it with -ldflags "-X main.kubeVersion=...".
var kubeVersion = "v0.0.0-unknown"

const defaultKubeconfig = "/etc/rancher/k3s/k3s.yaml"

func main() {
	runAsInit()
	if filepath.Base(os.Args[0]) == "kubectl" {
		os.Exit(execKubectl(os.Args[1:]))
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch cmd := os.Args[1]; cmd {
	case "server":
		os.Exit(runServer(os.Args[2:]))
	case "agent":
		os.Exit(runAgent(os.Args[2:]))
	case "kubectl":
		os.Exit(execKubectl(os.Args[2:]))
	case "--version", "-v", "version":
		fmt.Printf("k3s version %s+k3s1 (k3sbox-testbed)\ngo version %s\n", kubeVersion, runtime.Version())
	case "help", "--help", "-h":
		usage()
	case "etcd-snapshot", "certificate", "token", "secrets-encrypt", "crictl", "ctr", "check-config", "completion":
		fmt.Fprintf(os.Stderr, "k3s %s is not supported by the k3sbox test image (only server, agent and kubectl are)\n", cmd)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "k3s: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: k3s server [flags] | k3s agent --server URL --token TOKEN [flags] | k3s kubectl [args] | k3s --version
k3sbox test image: a k3s-compatible single-node control plane made of
upstream etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
`)
}

// execKubectl replaces this process with the real kubectl, defaulting
// KUBECONFIG like k3s does.
func execKubectl(args []string) int {
	path, err := findBinary("kubectl")
	if err != nil {
		fmt.Fprintln(os.Stderr, "k3s kubectl:", err)
		return 1
	}
	env := os.Environ()
	if os.Getenv("KUBECONFIG") == "" {
		env = append(env, "KUBECONFIG="+defaultKubeconfig)
	}
	err = syscall.Exec(path, append([]string{"kubectl"}, args...), env)
	fmt.Fprintln(os.Stderr, "k3s kubectl: exec:", err)
	return 1
}

// findBinary locates a bundled component: in $K3S_BIN_DIR, else next to
// this executable (symlinks resolved). A candidate that is this executable
// itself (kubectl -> k3s symlink) is skipped.
func findBinary(name string) (string, error) {
	var dirs []string
	if d := os.Getenv("K3S_BIN_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	self, selfErr := os.Executable()
	if selfErr == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		dirs = append(dirs, filepath.Dir(self))
	}
	selfInfo, _ := os.Stat(self)
	for _, d := range dirs {
		p := filepath.Join(d, name)
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			continue
		}
		if selfInfo != nil && os.SameFile(st, selfInfo) {
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("%s not found in %s (set K3S_BIN_DIR)", name, strings.Join(dirs, " or "))
}

// logf prints a k3s-style (logrus text format) line to stderr. Lines after
// the first are printed as they are, so a child's log tail stays readable.
func logf(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	first, rest, _ := strings.Cut(msg, "\n")
	fmt.Fprintf(os.Stderr, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339), level, first)
	if rest != "" {
		fmt.Fprintln(os.Stderr, rest)
	}
}
