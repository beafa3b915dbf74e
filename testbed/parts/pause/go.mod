// Pins the Kubernetes module whose build/pause/linux/pause.c ../../parts.sh compiles
// (with gcc -static) into the sandbox (pause) image. Nothing here is built by Go,
// so `go mod tidy` would drop the require: edit it by hand (go.sum: its two lines).
module k3sbox.local/testbed/parts/pause

go 1.26

require k8s.io/kubernetes v1.35.4
