package main

// Host network facts: addresses for certificate SANs and the node IP, free
// loopback ports for the internal components, and CIDR arithmetic.

import (
	"fmt"
	"net"
	"strings"
)

// hostIPs returns every non-loopback address on the host's interfaces.
func hostIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
			ips = append(ips, ipn.IP)
		}
	}
	return ips
}

// nodeIPOf is --node-ip, checked, or the address of the default route's interface.
func nodeIPOf(c *serverConfig) (string, error) {
	if c.NodeIP == "" {
		return defaultNodeIP().String(), nil
	}
	ip := net.ParseIP(c.NodeIP)
	if ip == nil {
		return "", fmt.Errorf("invalid --node-ip %q", c.NodeIP)
	}
	return ip.String(), nil
}

// defaultNodeIP picks the node's InternalIP the way k3s does: the source
// address of the default route. Connecting a UDP socket sends no packet; it
// only asks the kernel for a route. Without a default route, it falls back to
// the first global IPv4 address, then to 127.0.0.1.
func defaultNodeIP() net.IP {
	if conn, err := net.Dial("udp4", "203.0.113.1:53"); err == nil {
		ip := conn.LocalAddr().(*net.UDPAddr).IP
		conn.Close()
		if !ip.IsLoopback() && !ip.IsUnspecified() {
			return ip
		}
	}
	for _, ip := range hostIPs() {
		if ip.To4() != nil && ip.IsGlobalUnicast() {
			return ip
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// freePort asks the kernel for an unused TCP port on host. Another process
// could take it before the component binds it; components that fail with
// "address already in use" are restarted on new ports (see server.go).
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// firstIP returns the first usable address of a CIDR (10.43.0.0/16 -> 10.43.0.1),
// which the apiserver gives to the `kubernetes` Service.
func firstIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	ip[len(ip)-1]++
	return ip, nil
}

// nodePodCIDR returns the first /24 (IPv4) or /64 (IPv6) of the cluster CIDR:
// the podCIDR k3s's node IPAM would give the first server node.
func nodePodCIDR(clusterCIDR string) (string, error) {
	first := strings.Split(clusterCIDR, ",")[0]
	ip, n, err := net.ParseCIDR(strings.TrimSpace(first))
	if err != nil {
		return "", fmt.Errorf("invalid cluster CIDR %q: %w", clusterCIDR, err)
	}
	ones, bits := n.Mask.Size()
	size := 24
	if ip.To4() == nil {
		size = 64
	}
	if ones > size {
		size = ones
	}
	return (&net.IPNet{IP: n.IP, Mask: net.CIDRMask(size, bits)}).String(), nil
}

// splitSANs sorts --tls-san values into IP and DNS names.
func splitSANs(values []string) (dns []string, ips []net.IP) {
	for _, v := range values {
		if ip := net.ParseIP(v); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, v)
		}
	}
	return dns, ips
}
