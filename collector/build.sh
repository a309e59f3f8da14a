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
#
# Relative relocations packed (DT_RELR, the linker's -z pack-relative-relocs):
# a Go shared object is position-independent, and every pointer in its type
# and function tables needs a relocation at load. Unpacked they are a
# 1.4 MiB table that the loader reads whole and that stays resident in
# Fluent Bit for good; packed they take about 21 KiB. It needs binutils 2.38
# or later here and glibc 2.36 or later where the .so is loaded: used only
# when a probe program linked so runs here. AGENTOBS_PACK_RELOCS=0 leaves
# them unpacked (a .so built here for a Fluent Bit on an older glibc).
set -eu
out=${1:?usage: collector/build.sh OUT [go build flags...]}
shift
cd "$(dirname "$0")/.."

packs_relocs() {
  [ "${AGENTOBS_PACK_RELOCS:-1}" != 0 ] || return 1
  dir=$(mktemp -d)
  printf 'int main(void) { return 0; }\n' > "$dir/probe.c"
  ok=1
  # shellcheck disable=SC2046 # CC may carry flags
  if $(go env CC) -Wl,-z,pack-relative-relocs -Wl,--fatal-warnings -o "$dir/probe" "$dir/probe.c" 2>/dev/null &&
    "$dir/probe"; then
    ok=0
  fi
  rm -rf "$dir"
  return $ok
}
if packs_relocs; then
  CGO_LDFLAGS="${CGO_LDFLAGS:-$(go env CGO_LDFLAGS)} -Wl,-z,pack-relative-relocs"
  export CGO_LDFLAGS
fi
CGO_ENABLED=1 exec go build -buildmode=c-shared -tags notfastpath,nethttpomithttp2 "$@" -o "$out" ./collector
