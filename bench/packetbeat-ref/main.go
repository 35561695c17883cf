package main

import (
	"os"

	"github.com/elastic/beats/v7/packetbeat/cmd"
)

func main() {
	if err := cmd.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
