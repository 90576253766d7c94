// Command envtest-up starts a bare control plane (etcd and kube-apiserver from ./bin, Canopy's CRDs
// installed) and writes its kubeconfig, so that `make run` and kubectl can be tried without a
// cluster. It runs until interrupted. There are no nodes: pods never run.
//
//	go run ./hack/envtest-up -out /tmp/canopy.kubeconfig
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/canopy-dev/canopy/internal/testenv"
)

func main() {
	path := flag.String("out", "bin/envtest.kubeconfig", "where to write the kubeconfig")
	flag.Parse()
	if err := run(*path); err != nil {
		fmt.Fprintln(os.Stderr, "envtest-up:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	e, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = e.Stop() }()
	data, err := e.Kubeconfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	fmt.Printf("control plane up; export KUBECONFIG=%s (Ctrl-C stops it)\n", path)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
