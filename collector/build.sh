#!/bin/sh
# build.sh OUT [go build flags...]: builds the Fluent Bit output plugin
# (a cgo shared object) into OUT. The one place its build flags live: the
# Makefile, the image, the tests and the benchmarks all build through it.
#
# Tags, each dropping code the plugin carries but never runs (every byte of
# the .so's code and tables ends up resident in Fluent Bit, which `make bench`
# measures as R3's peak RSS against Fluent Bit's own Kafka output):
#   notfastpath       ugorji/go's generated fast paths: fluent-bit-go's output
#                     package imports that codec for a decoder the plugin does
#                     not use (it has its own); about 0.9 MiB
#   nethttpomithttp2  HTTP/2 in net/http: the plugin serves only /metrics and
#                     /readyz, over HTTP/1.1; about 0.4 MiB
set -eu
out=${1:?usage: collector/build.sh OUT [go build flags...]}
shift
cd "$(dirname "$0")/.."
CGO_ENABLED=1 exec go build -buildmode=c-shared -tags notfastpath,nethttpomithttp2 "$@" -o "$out" ./collector
