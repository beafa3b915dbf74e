// A whoami-compatible demo server (github.com/traefik/whoami is refused by the
// Go module proxy); ../../parts.sh builds it into the traefik/whoami image.
module k3sbox.local/testbed/parts/whoami

go 1.26
