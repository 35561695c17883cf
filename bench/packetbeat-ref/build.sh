#!/bin/bash
# Builds Packetbeat 7.17.29 from the Go module proxy, for bench/packetbeat_compare.py
# (the reference run; not part of tapbeat). go.mod repeats the replace directives of
# beats' own go.mod, which `go install pkg@version` would refuse. Needs Go, a C
# compiler and libpcap-dev (cgo). Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-$PWD/packetbeat}
CGO_ENABLED=1 GOFLAGS=-mod=mod go build -o "$out" .
echo "$out"
