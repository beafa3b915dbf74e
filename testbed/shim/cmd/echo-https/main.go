// Command echo-https is a stand-in ingress target for runner tests: it
// answers every request, over HTTP and HTTPS, with what it saw:
//
//	{"host": "...", "path": "...", "sni": "...", "method": "..."}
//
// usage: echo-https --cert FILE --key FILE [--http :80] [--https :443]
// An empty --http or --https address disables that listener.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

type echo struct {
	Host   string `json:"host"`
	Path   string `json:"path"`
	SNI    string `json:"sni"`
	Method string `json:"method"`
}

func handler(w http.ResponseWriter, r *http.Request) {
	e := echo{Host: r.Host, Path: r.URL.Path, Method: r.Method}
	if r.TLS != nil {
		e.SNI = r.TLS.ServerName
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(e)
}

func main() {
	cert := flag.String("cert", "", "TLS certificate (PEM) for the HTTPS listener")
	key := flag.String("key", "", "TLS private key (PEM) for the HTTPS listener")
	httpAddr := flag.String("http", ":80", "HTTP listen address (empty: none)")
	httpsAddr := flag.String("https", ":443", "HTTPS listen address (empty: none)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "echo-https: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *httpsAddr != "" && (*cert == "" || *key == "") {
		fmt.Fprintln(os.Stderr, "echo-https: --cert and --key are required for --https")
		os.Exit(2)
	}

	errs := make(chan error, 2)
	if *httpAddr != "" {
		go func() { errs <- (&http.Server{Addr: *httpAddr, Handler: http.HandlerFunc(handler)}).ListenAndServe() }()
		log.Printf("echo-https: HTTP on %s", *httpAddr)
	}
	if *httpsAddr != "" {
		go func() {
			errs <- (&http.Server{Addr: *httpsAddr, Handler: http.HandlerFunc(handler)}).ListenAndServeTLS(*cert, *key)
		}()
		log.Printf("echo-https: HTTPS on %s", *httpsAddr)
	}
	if *httpAddr == "" && *httpsAddr == "" {
		fmt.Fprintln(os.Stderr, "echo-https: nothing to serve (both --http and --https are empty)")
		os.Exit(2)
	}

	// Exit promptly on SIGTERM (e.g. as PID 1 in a container).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("echo-https: %v", err)
		}
	case <-sigs:
	}
}
