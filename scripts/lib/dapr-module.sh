# Sourced by the Dapr toolchain scripts (daprd-toolchain, dapr-control-plane-toolchain). Both build
# from the one wrapper module scripts/daprd-wrapper (daprd's main.go; the control plane as tool
# lines, so go.sum pins what they import too) into one cache, so whichever builds second reuses the
# first's module downloads and compiled packages.
#
# Environment: GO (go binary; default: go on PATH, else /usr/local/go/bin/go),
# TODO_DAPRD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/todo-evolution/daprd),
# TODO_DAPRD_BUILD_JOBS (go build -p; default: the number of CPUs, at most 4).

dapr_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The Dapr pin lives in one place, scripts/k8s-toolchain (which takes the CRDs from the same
# module); infra/addons/dapr.py installs the chart of that release (tests/clouds checks it).
DAPR_VERSION=$(sed -n 's/^DAPR_VERSION=\([0-9][0-9.]*\)$/\1/p' "$dapr_repo/scripts/k8s-toolchain")
wrapper=$dapr_repo/scripts/daprd-wrapper
cache=${TODO_DAPRD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/todo-evolution/daprd}
# What Dapr's own release build stamps into every binary.
DAPR_LDFLAGS="-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$DAPR_VERSION"

[ -n "$DAPR_VERSION" ] || die "scripts/k8s-toolchain has no DAPR_VERSION=X.Y.Z line"
grep -Eq "^(require )?[[:space:]]*github.com/dapr/dapr v$DAPR_VERSION\$" "$wrapper/go.mod" ||
  die "scripts/daprd-wrapper/go.mod does not require github.com/dapr/dapr v$DAPR_VERSION (the pin)"
# shellcheck source=build-lock.sh
. "$dapr_repo/scripts/lib/build-lock.sh"

# A cache key for $1 from the wrapper files its build depends on ($2...).
dapr_key() {
  local name=$1
  shift
  echo "$name-$DAPR_VERSION-$(cd "$wrapper" && cat "$@" | sha256sum | cut -c1-12)"
}

setup_dapr_go() {
  go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
  [ -x "$go" ] || die "Go is needed to build Dapr from source (set GO=/path/to/go)"
  local cpus
  cpus=$(nproc)
  jobs=${TODO_DAPRD_BUILD_JOBS:-$((cpus < 4 ? cpus : 4))}
  export GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false" \
    GOMODCACHE=$cache/gomod GOCACHE=$cache/gocache
  say "$("$go" version); cache $cache"
}

# Stage the wrapper in $cache/src/wrapper with github.com/dapr/dapr replaced by an unchanged copy of
# the module at $cache/src/dapr-$DAPR_VERSION (a `replace` in the staged go.mod, never in the repo):
# daprd's build needs a copy to overlay one file (see daprd-toolchain), and building the control
# plane from the same path lets the Go build cache share every package the two have in common.
stage_dapr_wrapper() {
  local src=$cache/src module
  rm -rf "$src"
  mkdir -p "$src/wrapper"
  cp "$wrapper/go.mod" "$wrapper/go.sum" "$wrapper/main.go" "$src/wrapper/"
  module=$(cd "$src/wrapper" && "$go" mod download github.com/dapr/dapr &&
    "$go" list -m -f '{{.Dir}}' github.com/dapr/dapr)
  cp -r "$module" "$src/dapr-$DAPR_VERSION"
  chmod -R u+w "$src/dapr-$DAPR_VERSION"
  (cd "$src/wrapper" && "$go" mod edit -replace "github.com/dapr/dapr=$src/dapr-$DAPR_VERSION")
}
