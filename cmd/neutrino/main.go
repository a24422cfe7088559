// Command neutrino is the Neutrino CLI: sandbox, topology and benchmarks.
package main

import (
	"os"

	"github.com/neutrino-net/neutrino/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
