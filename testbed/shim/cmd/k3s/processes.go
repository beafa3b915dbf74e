package main

// Child process supervision: start components with their output in
// <data-dir>/server/logs/<name>.log, report the first unexpected exit, and
// stop everything on shutdown (SIGTERM, then SIGKILL after a grace period).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

type supervisor struct {
	logDir string
	exited chan *child // unexpected exits of critical children

	mu       sync.Mutex
	children []*child
	stopping bool
}

type child struct {
	name    string
	tier    int // stopped after every child of a higher tier (dependents first)
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped

	// Set under supervisor.mu.
	critical bool // its exit is fatal (reported on supervisor.exited)
	reported bool
}

// throwawayGOGC: the components collect garbage 4x less often than Go's
// default (GOGC=100). A throwaway cluster lives minutes and this machine has
// the memory; starting a control plane then costs about a quarter less CPU
// (kube-apiserver 1.6 -> 1.2 CPU-s to /readyz, measured with process accounting).
const throwawayGOGC = "GOGC=400"

// childEnv is the components' environment: ours, with throwawayGOGC unless
// GOGC is set already.
func childEnv(environ []string) []string {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return environ
		}
	}
	return append(environ[:len(environ):len(environ)], throwawayGOGC)
}

func newSupervisor(logDir string) *supervisor {
	return &supervisor{logDir: logDir, exited: make(chan *child, 16)}
}

// start runs bin with args. A critical child's exit is reported on s.exited;
// a non-critical one is watched by the caller (via done) until markCritical.
// tier orders shutdown: clients of a component get a higher tier than it.
func (s *supervisor) start(name string, tier int, bin string, args, extraEnv []string, critical bool) (*child, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, fmt.Errorf("not starting %s: shutting down", name)
	}
	logPath := filepath.Join(s.logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "=== %s: %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(childEnv(os.Environ()), extraEnv...)
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, tier: tier, logPath: logPath, cmd: cmd, done: make(chan struct{}), critical: critical}
	s.children = append(s.children, c)
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(c.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reportLocked(c)
	}()
	return c, nil
}

// markCritical makes c's exit fatal from now on (and reports it if it
// already happened).
func (s *supervisor) markCritical(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.critical = true
	if c.exited() {
		s.reportLocked(c)
	}
}

func (s *supervisor) reportLocked(c *child) {
	if c.critical && !s.stopping && !c.reported && c.exited() {
		c.reported = true
		s.exited <- c
	}
}

// stopAll stops the children tier by tier, highest first (controllers,
// then the apiserver, then etcd: a component whose backend is already gone
// hangs in its graceful shutdown). Each tier gets SIGTERM and the remaining
// time of grace; whatever still runs at the deadline is killed. Exits from
// here on are not reported.
func (s *supervisor) stopAll(grace time.Duration) {
	s.mu.Lock()
	s.stopping = true
	children := append([]*child(nil), s.children...)
	s.mu.Unlock()

	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	maxTier := 0
	for _, c := range children {
		maxTier = max(maxTier, c.tier)
	}
	for tier := maxTier; tier >= 0; tier-- {
		var group []*child
		for _, c := range children {
			if c.tier == tier && !c.exited() {
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
				group = append(group, c)
			}
		}
		for _, c := range group {
			select {
			case <-c.done:
			case <-deadline.C:
				for _, c := range children {
					if !c.exited() {
						logf("warn", "%s did not stop within %s; killing it", c.name, grace)
						_ = c.cmd.Process.Kill()
					}
				}
				for _, c := range children {
					<-c.done
				}
				return
			}
		}
	}
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitDescription says how the child ended: "exit code 1" or "signal killed".
func (c *child) exitDescription() string {
	st := c.cmd.ProcessState
	if st == nil {
		return "unknown exit status"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit code %d", st.ExitCode())
}

// failure is the message printed when a child dies: its name, how it ended
// and the end of its log.
func (c *child) failure() string {
	return fmt.Sprintf("%s exited unexpectedly (%s); last lines of %s:\n%s",
		c.name, c.exitDescription(), c.logPath, indent(tailLines(c.logPath, 20)))
}

// childExitError is a startup error caused by a child that exited.
type childExitError struct{ c *child }

func (e *childExitError) Error() string { return e.c.failure() }

// tailLines returns the last n lines of the file at path.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	const maxRead = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		_, _ = f.Seek(st.Size()-maxRead, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// logContains reports whether the child's log mentions substr (used to
// recognise port collisions).
func logContains(c *child, substr string) bool {
	return strings.Contains(tailLines(c.logPath, 200), substr)
}
