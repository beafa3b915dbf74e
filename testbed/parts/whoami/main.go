// Command whoami is a small stand-in for github.com/traefik/whoami (the demo
// app `k3sbox smoke` deploys): the Go module proxy refuses that module, so the
// node image's traefik/whoami image is built from this instead. It answers
// every request with the serving host's name and addresses and the request as
// received; /api gives the same as JSON and /health answers 200.
// Flags: -port (default 80, or $WHOAMI_PORT_NUMBER), -name ($WHOAMI_NAME),
// -version.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

const version = "k3sbox-whoami 1.0 (whoami-compatible)"

type report struct {
	Hostname   string              `json:"hostname"`
	IP         []string            `json:"ip"`
	Name       string              `json:"name,omitempty"`
	RemoteAddr string              `json:"remoteAddr"`
	Method     string              `json:"method"`
	URL        string              `json:"url"`
	Host       string              `json:"host"`
	Headers    map[string][]string `json:"headers"`
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func addresses() []string {
	var out []string
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			out = append(out, ipnet.IP.String())
		}
	}
	return out
}

func describe(r *http.Request, name string) report {
	host, _ := os.Hostname()
	return report{
		Hostname: host, IP: addresses(), Name: name, RemoteAddr: r.RemoteAddr,
		Method: r.Method, URL: r.URL.RequestURI(), Host: r.Host, Headers: r.Header,
	}
}

func writeText(w io.Writer, rep report, proto string) {
	if rep.Name != "" {
		fmt.Fprintf(w, "Name: %s\n", rep.Name)
	}
	fmt.Fprintf(w, "Hostname: %s\n", rep.Hostname)
	for _, ip := range rep.IP {
		fmt.Fprintf(w, "IP: %s\n", ip)
	}
	fmt.Fprintf(w, "RemoteAddr: %s\n", rep.RemoteAddr)
	fmt.Fprintf(w, "%s %s %s\nHost: %s\n", rep.Method, rep.URL, proto, rep.Host)
	keys := make([]string, 0, len(rep.Headers))
	for k := range rep.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s: %s\n", k, strings.Join(rep.Headers[k], ", "))
	}
}

func main() {
	port := flag.String("port", envOr("WHOAMI_PORT_NUMBER", "80"), "port to listen on")
	name := flag.String("name", envOr("WHOAMI_NAME", ""), "name shown in every answer")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(describe(r, *name))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeText(w, describe(r, *name), r.Proto)
	})

	server := &http.Server{Addr: ":" + *port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("whoami listening on %s", server.Addr)
	log.Fatal(server.ListenAndServe())
}
