package main

// Parsing of `k3s server` flags.
//
// Real k3s uses urfave/cli, which accepts `--flag=value`, `--flag value`,
// a single leading dash, repeated list flags and comma-separated lists. The
// standard library's flag package handles neither repeated lists nor the
// "accept and ignore" class we need, so this is a small table-driven parser.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// serverConfig is everything `k3s server` needs after flag parsing.
type serverConfig struct {
	DataDir             string
	HTTPSListenPort     int
	BindAddress         string
	AdvertiseAddress    string
	WriteKubeconfig     string
	WriteKubeconfigMode os.FileMode
	NodeName            string
	NodeIP              string
	NodeLabels          []string
	NodeTaints          []string
	ClusterCIDR         string
	ServiceCIDR         string
	ClusterDNS          string
	ClusterDomain       string
	ResolvConf          string
	TLSSANs             []string
	Disable             []string

	// Extra arguments for the real components, as in k3s ("key=value").
	EtcdArgs              []string
	APIServerArgs         []string
	ControllerManagerArgs []string
	SchedulerArgs         []string
	KubeletArgs           []string
	KubeProxyArgs         []string

	// Joining a cluster (`k3s agent`; on a server, --token sets the password
	// of the join token instead of a random one).
	ServerURL string
	Token     string
	TokenFile string
	// Flags that were accepted but have no effect here (logged once).
	Ignored []string
}

// flagKind says how a flag takes its value and what happens to it.
type flagKind int

const (
	kindString flagKind = iota // single value, last one wins
	kindList                   // repeatable, values may be comma-separated
	kindRepeat                 // repeatable, each value kept whole (may contain commas)
	ignString                  // accepted, value swallowed, no effect here
	ignBool                    // accepted boolean, no effect here
)

type flagSpec struct {
	kind flagKind
	set  func(c *serverConfig, v string) error // nil for ign* kinds
}

func str(dst func(c *serverConfig) *string) flagSpec {
	return flagSpec{kindString, func(c *serverConfig, v string) error { *dst(c) = v; return nil }}
}

func list(dst func(c *serverConfig) *[]string) flagSpec {
	return flagSpec{kindList, func(c *serverConfig, v string) error {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*dst(c) = append(*dst(c), item)
			}
		}
		return nil
	}}
}

func repeat(dst func(c *serverConfig) *[]string) flagSpec {
	return flagSpec{kindRepeat, func(c *serverConfig, v string) error { *dst(c) = append(*dst(c), v); return nil }}
}

// nodeFlags are the flags `k3s server` and `k3s agent` share: both run a node.
var nodeFlags = map[string]flagSpec{
	"token":          str(func(c *serverConfig) *string { return &c.Token }),
	"t":              str(func(c *serverConfig) *string { return &c.Token }),
	"token-file":     str(func(c *serverConfig) *string { return &c.TokenFile }),
	"data-dir":       str(func(c *serverConfig) *string { return &c.DataDir }),
	"d":              str(func(c *serverConfig) *string { return &c.DataDir }),
	"node-name":      str(func(c *serverConfig) *string { return &c.NodeName }),
	"node-ip":        str(func(c *serverConfig) *string { return &c.NodeIP }),
	"i":              str(func(c *serverConfig) *string { return &c.NodeIP }),
	"resolv-conf":    str(func(c *serverConfig) *string { return &c.ResolvConf }),
	"node-label":     list(func(c *serverConfig) *[]string { return &c.NodeLabels }),
	"node-taint":     list(func(c *serverConfig) *[]string { return &c.NodeTaints }),
	"kubelet-arg":    repeat(func(c *serverConfig) *[]string { return &c.KubeletArgs }),
	"kube-proxy-arg": repeat(func(c *serverConfig) *[]string { return &c.KubeProxyArgs }),
	// The pod network is the node entry's host-gw (hostgw.go), whatever
	// these say.
	"flannel-iface":    {kind: ignString},
	"flannel-conf":     {kind: ignString},
	"flannel-cni-conf": {kind: ignString},
	// Accepted (the library or users pass them) and without effect here.
	"node-external-ip":           {kind: ignString},
	"container-runtime-endpoint": {kind: ignString},
	"image-service-endpoint":     {kind: ignString},
	"default-runtime":            {kind: ignString},
	"snapshotter":                {kind: ignString},
	"pause-image":                {kind: ignString},
	"private-registry":           {kind: ignString},
	"log":                        {kind: ignString},
	"l":                          {kind: ignString},
	"v":                          {kind: ignString},
	"vmodule":                    {kind: ignString},
	"config":                     {kind: ignString},
	"c":                          {kind: ignString},
	"selinux":                    {kind: ignBool},
	"protect-kernel-defaults":    {kind: ignBool},
	"prefer-bundled-bin":         {kind: ignBool},
	"rootless":                   {kind: ignBool},
	"docker":                     {kind: ignBool},
	"debug":                      {kind: ignBool},
	"alsologtostderr":            {kind: ignBool},
}

// serverFlags is the table of every `k3s server` flag we accept.
var serverFlags = withFlags(nodeFlags, map[string]flagSpec{
	"bind-address":      str(func(c *serverConfig) *string { return &c.BindAddress }),
	"advertise-address": str(func(c *serverConfig) *string { return &c.AdvertiseAddress }),
	"write-kubeconfig":  str(func(c *serverConfig) *string { return &c.WriteKubeconfig }),
	"o":                 str(func(c *serverConfig) *string { return &c.WriteKubeconfig }),
	"cluster-cidr":      str(func(c *serverConfig) *string { return &c.ClusterCIDR }),
	"service-cidr":      str(func(c *serverConfig) *string { return &c.ServiceCIDR }),
	"cluster-dns":       str(func(c *serverConfig) *string { return &c.ClusterDNS }),
	"cluster-domain":    str(func(c *serverConfig) *string { return &c.ClusterDomain }),
	"https-listen-port": {kindString, func(c *serverConfig, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("invalid port %q", v)
		}
		c.HTTPSListenPort = p
		return nil
	}},
	"write-kubeconfig-mode": {kindString, func(c *serverConfig, v string) error {
		m, err := parseMode(v)
		c.WriteKubeconfigMode = m
		return err
	}},
	"tls-san": list(func(c *serverConfig) *[]string { return &c.TLSSANs }),
	"disable": list(func(c *serverConfig) *[]string { return &c.Disable }),

	// Passed through to the real components, like k3s does.
	"etcd-arg":                    repeat(func(c *serverConfig) *[]string { return &c.EtcdArgs }),
	"kube-apiserver-arg":          repeat(func(c *serverConfig) *[]string { return &c.APIServerArgs }),
	"kube-controller-manager-arg": repeat(func(c *serverConfig) *[]string { return &c.ControllerManagerArgs }),
	"kube-scheduler-arg":          repeat(func(c *serverConfig) *[]string { return &c.SchedulerArgs }),

	// Networking and packaging flags with no counterpart here: accepted (the
	// library passes several of them) and without effect. (The pod network
	// is a CNI bridge, whatever --flannel-backend says.)
	"kube-cloud-controller-manager-arg": {kind: ignString},
	"flannel-backend":                   {kind: ignString},
	"flannel-external-ip":               {kind: ignBool},
	"flannel-ipv6-masq":                 {kind: ignBool},
	"egress-selector-mode":              {kind: ignString},
	"servicelb-namespace":               {kind: ignString},
	"service-node-port-range":           {kind: ignString},
	"advertise-port":                    {kind: ignString},
	"agent-token":                       {kind: ignString},
	"agent-token-file":                  {kind: ignString},
	"server":                            {kind: ignString},
	"s":                                 {kind: ignString},
	"system-default-registry":           {kind: ignString},
	"disable-network-policy":            {kind: ignBool},
	"disable-kube-proxy":                {kind: ignBool},
	"disable-cloud-controller":          {kind: ignBool},
	"disable-helm-controller":           {kind: ignBool},
	"disable-scheduler":                 {kind: ignBool},
	"disable-apiserver":                 {kind: ignBool},
	"disable-controller-manager":        {kind: ignBool},
	"disable-etcd":                      {kind: ignBool},
	"embedded-registry":                 {kind: ignBool},
	"cluster-init":                      {kind: ignBool},
	"secrets-encryption":                {kind: ignBool},
	"tls-san-security":                  {kind: ignBool},
	"write-kubeconfig-group":            {kind: ignString},
})

// withFlags is base with more's flags added.
func withFlags(base, more map[string]flagSpec) map[string]flagSpec {
	out := make(map[string]flagSpec, len(base)+len(more))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// defaultServerConfig mirrors k3s's defaults, including the K3S_* variables
// real k3s reads for a few of them.
func defaultServerConfig() *serverConfig {
	c := &serverConfig{
		DataDir:             "/var/lib/rancher/k3s",
		HTTPSListenPort:     6443,
		BindAddress:         "0.0.0.0",
		WriteKubeconfig:     "/etc/rancher/k3s/k3s.yaml",
		WriteKubeconfigMode: 0o600,
		ClusterCIDR:         "10.42.0.0/16",
		ServiceCIDR:         "10.43.0.0/16",
		ClusterDNS:          "10.43.0.10",
		ClusterDomain:       "cluster.local",
	}
	if v := os.Getenv("K3S_KUBECONFIG_OUTPUT"); v != "" {
		c.WriteKubeconfig = v
	}
	if v := os.Getenv("K3S_KUBECONFIG_MODE"); v != "" {
		if m, err := parseMode(v); err == nil {
			c.WriteKubeconfigMode = m
		}
	}
	c.NodeName = os.Getenv("K3S_NODE_NAME")
	return c
}

// usageError is reported with exit status 2, like a CLI usage error.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// agentFlags is the table of every `k3s agent` flag we accept.
var agentFlags = withFlags(nodeFlags, map[string]flagSpec{
	"server":       str(func(c *serverConfig) *string { return &c.ServerURL }),
	"s":            str(func(c *serverConfig) *string { return &c.ServerURL }),
	"with-node-id": {kind: ignBool},
})

// parseServerFlags parses the arguments that follow `k3s server`.
func parseServerFlags(args []string) (*serverConfig, error) {
	return parseFlags(args, serverFlags, "server")
}

// parseAgentFlags parses the arguments that follow `k3s agent`; --server
// and a token are required, as in k3s.
func parseAgentFlags(args []string) (*serverConfig, error) {
	c, err := parseFlags(args, agentFlags, "agent")
	if err != nil {
		return nil, err
	}
	if c.ServerURL == "" {
		c.ServerURL = os.Getenv("K3S_URL")
	}
	if c.Token == "" && c.TokenFile == "" {
		c.Token, c.TokenFile = os.Getenv("K3S_TOKEN"), os.Getenv("K3S_TOKEN_FILE")
	}
	if c.ServerURL == "" {
		return nil, usageError{"k3s agent: --server (or K3S_URL) is required"}
	}
	if c.Token == "" && c.TokenFile == "" {
		return nil, usageError{"k3s agent: --token or --token-file (or K3S_TOKEN) is required"}
	}
	return c, nil
}

// parseFlags parses a command's flags against its table.
func parseFlags(args []string, table map[string]flagSpec, cmd string) (*serverConfig, error) {
	c := defaultServerConfig()
	ignored := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return nil, usageError{fmt.Sprintf("unexpected argument %q", args[i+1])}
			}
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			return nil, usageError{fmt.Sprintf("unexpected argument %q (k3s %s takes only flags)", arg, cmd)}
		}
		name := strings.TrimLeft(arg, "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		spec, ok := table[name]
		if !ok {
			return nil, usageError{fmt.Sprintf("flag provided but not defined: -%s", name)}
		}
		if spec.kind == ignBool {
			if hasValue {
				if _, err := strconv.ParseBool(value); err != nil {
					return nil, usageError{fmt.Sprintf("invalid boolean value %q for --%s", value, name)}
				}
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, usageError{fmt.Sprintf("flag needs an argument: --%s", name)}
			}
			i++
			value = args[i]
		}
		if spec.kind == ignString || spec.kind == ignBool {
			if !ignored[name] {
				ignored[name] = true
				c.Ignored = append(c.Ignored, "--"+name)
			}
			continue
		}
		if err := spec.set(c, value); err != nil {
			return nil, usageError{fmt.Sprintf("invalid value for --%s: %v", name, err)}
		}
	}
	return c, nil
}

// parseMode parses a file mode given in octal, with or without a leading 0.
func parseMode(v string) (os.FileMode, error) {
	m, err := strconv.ParseUint(v, 8, 32)
	if err != nil || m > 0o777 {
		return 0, fmt.Errorf("invalid file mode %q (want octal, e.g. 644)", v)
	}
	return os.FileMode(m), nil
}
