#!/usr/bin/env bash
# Installs every real peer the tests and `mailmesh dev` run against, idempotently.
# Go-built tools are cached under $MAILMESH_CACHE (default ~/.cache/mailmesh), one
# directory per pinned version; Debian packages are installed only when missing.
# A second run with everything cached does no work beyond checks.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

# Pinned peer versions. Changing one rebuilds only that peer.
NATS_SERVER_VERSION=v2.15.3
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # MinIO tags are not semver: pin the pseudo-version
KUBERNETES_VERSION=v1.37.2                            # scripts/peers/kube/go.mod pins staging v0.37.2 and etcd v3.7.0
HELM_VERSION=v4.3.2
KUBECONFORM_VERSION=v0.7.0
DEBIAN_PACKAGES=(swaks clamav-daemon spamassassin spamd postfix)

mkdir -p "$MAILMESH_CACHE/tools" "$MAILMESH_CACHE/logs" "$MAILMESH_BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"

# go_tool NAME VERSION BINARY... : builds with `go install MODULE@VERSION` (or a
# custom builder) into tools/NAME@VERSION and links each binary into bin/.
link_bins() {
  local dir="$1"; shift
  for b in "$@"; do
    [ -x "$dir/$b" ] || die "$b missing from $dir after build" "rm -rf '$dir' and rerun scripts/setup.sh"
    ln -sf "$dir/$b" "$MAILMESH_BIN/$b"
  done
}

go_install() {
  local name="$1" module="$2" version="$3"; shift 3
  local dir="$MAILMESH_CACHE/tools/$name@$version"
  if [ -f "$dir/.complete" ]; then
    link_bins "$dir" "$@"; ok "$name $version (cached)"; return
  fi
  info "building $name $version from the Go module proxy (first run only; this takes a while)"
  rm -rf "$dir"; mkdir -p "$dir"
  run_logged "$MAILMESH_CACHE/logs/$name.log" env GOBIN="$dir" go install "$module@$version" \
    || die "could not build $name $version ($module)" "check the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and see the log above"
  touch "$dir/.complete"
  link_bins "$dir" "$@"; ok "$name $version built ($(elapsed))"
}

# Kubernetes stamps its version at link time (hack/lib/version.sh); without it the
# apiserver reports v0.0.0-master and clients cannot compare versions.
kube_version_ldflags() {
  local v="${KUBERNETES_VERSION#v}" pkg=k8s.io/component-base/version
  echo "-X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=${v%%.*} -X $pkg.gitMinor=$(echo "$v" | cut -d. -f2) -X $pkg.gitTreeState=clean"
}

build_kube() {
  local dir="$MAILMESH_CACHE/tools/kube@$KUBERNETES_VERSION"
  local stamp; stamp="$( (cat "$here/peers/kube/go.mod" "$here/peers/kube/go.sum"; kube_version_ldflags) | sha256sum | cut -c1-16)"
  if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$stamp" ]; then
    link_bins "$dir" kube-apiserver etcd; ok "kube-apiserver $KUBERNETES_VERSION + etcd (cached)"; return
  fi
  info "building kube-apiserver $KUBERNETES_VERSION and etcd through scripts/peers/kube (first run only; ~10 min on 2 cores)"
  rm -rf "$dir"; mkdir -p "$dir"
  ( cd "$here/peers/kube" && run_logged "$MAILMESH_CACHE/logs/kube.log" \
      go build -ldflags "$(kube_version_ldflags)" -o "$dir/" \
        k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3 ) \
    || die "could not build kube-apiserver/etcd" "see the log above; the wrapper module is scripts/peers/kube"
  # The etcd server main package is go.etcd.io/etcd/server/v3, so go names the binary "server".
  mv "$dir/server" "$dir/etcd"
  echo "$stamp" > "$dir/.complete"
  link_bins "$dir" kube-apiserver etcd; ok "kube-apiserver + etcd built ($(elapsed))"
}

install_debian() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then ok "Debian packages: ${DEBIAN_PACKAGES[*]} (installed)"; return; fi
  [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null || die "need root to install ${missing[*]}" "run as root or install sudo"
  local SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  info "installing Debian packages: ${missing[*]}"
  # Package scripts must not start daemons: postfix, clamd, freshclam (which would try the
  # internet) and spamd are started by the test kit on loopback ports only, never as services.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null; $SUDO chmod 755 "$policy"; created_policy=1
  fi
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  run_logged "$MAILMESH_CACHE/logs/apt-update.log" $SUDO apt-get update \
    || die "apt-get update failed" "check that the Debian mirror is reachable"
  run_logged "$MAILMESH_CACHE/logs/apt-install.log" $SUDO env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed" "see the log above"
  [ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"
  for d in master clamd freshclam spamd; do $SUDO pkill -x "$d" 2>/dev/null || true; done
  ok "Debian packages installed ($(elapsed))"
}

step "Mailmesh setup (cache: $MAILMESH_CACHE)"
command -v go >/dev/null || die "go not found" "install Go >= 1.26 (the peers are built from the Go module proxy)"
command -v node >/dev/null || die "node not found" "install Node.js 20"
# The Go builds run side by side: on a cold machine their module downloads and
# single-threaded links overlap (~20% faster on two cores); each logs to its own file.
go_install nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION" nats-server &
go_install minio github.com/minio/minio "$MINIO_VERSION" minio &
go_install helm helm.sh/helm/v4/cmd/helm "$HELM_VERSION" helm &
go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION" kubeconform &
build_kube &
install_debian
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
[ "$failed" -eq 0 ] || die "a peer build failed (its error is above)" "fix it and rerun scripts/setup.sh; finished peers stay cached"
for b in swaks clamd spamd smtp-source smtp-sink; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found after install" "reinstall its Debian package"
done
step "setup complete in $(elapsed); binaries in $MAILMESH_BIN"
