// Command app is the health-code service: `go run ./app` serves it on the
// embedded SQLite default and the sandbox platform; subcommands migrate the
// database and print the version.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "healthcode:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "healthcode:", err)
		os.Exit(1)
	}
}
