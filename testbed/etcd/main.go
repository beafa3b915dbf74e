// Command etcd is upstream etcd's own entry point, built from the
// go.etcd.io/etcd/server/v3 module (the repository root module is not
// consumable as a dependency because of its replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
