// Command etcd is the etcd server of the pinned go.etcd.io/etcd/server/v3 module, built for `make cluster-test`.
// etcd publishes its server as a library module; this file is the whole program around it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
