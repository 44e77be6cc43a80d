// Command srserver serves franz-go's in-memory srfake schema registry over
// HTTP on a loopback address, for integration runs that need a registry
// process outside the test binaries (see .ci/integration.sh). It is the
// fallback for a real Confluent-API registry: Karapace is not installable
// from the package registries CI reaches.
//
// Usage:
//
//	srserver [-addr 127.0.0.1:0] [-url-file PATH]
//
// It prints the registry's base URL on stdout (and writes it to -url-file),
// then serves until SIGINT or SIGTERM. Schemas live in memory only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	urlFile := flag.String("url-file", "", "if set, write the base URL to this file once listening")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *urlFile); err != nil {
		log.Fatalf("srserver: %v", err)
	}
}

func run(ctx context.Context, addr, urlFile string) error {
	l, err := listenLoopback(addr)
	if err != nil {
		return err
	}
	url := "http://" + l.Addr().String()
	srv := &http.Server{Handler: srfake.NewRegistry().Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	fmt.Println(url)
	if urlFile != "" {
		if err := os.WriteFile(urlFile, []byte(url+"\n"), 0o644); err != nil {
			srv.Close()
			return err
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenLoopback listens on addr, which must be a loopback address: test
// infrastructure never serves beyond this machine.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("address %q is not a loopback address", addr)
	}
	return net.Listen("tcp", addr)
}
