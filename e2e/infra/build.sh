#!/usr/bin/env bash
# Builds the real Kubernetes / etcd / CSI binaries used by the e2e tests and caches them outside the
# work tree, in ${CSI_TS_TESTBIN_CACHE:-$HOME/.cache/csi-ts-testbin}/<hash>/.
#
# <hash> covers versions.env, this script, every go.mod/go.sum under e2e/infra, the Go sources of the
# helper programs, the contents of the third-party source folders it uses (below) and `go version`; a
# directory holding the marker file `.complete` (written last) is reused as is. GOMODCACHE and GOCACHE
# stay at their defaults so a reused machine rebuilds quickly.
#
# Some upstream Go programs are built from source folders because the module proxy reachable here
# refuses their modules: hostpathplugin (only when the proxy refuses it), go-csi-node-driver-registrar
# and go-livenessprobe (benchmark baselines). They are looked up in $CSI_TS_THIRD_PARTY (default:
# shared/third_party next to the repository) as <repo name>-<version>/; a missing folder makes that
# binary unavailable (<name>.unavailable in the cache dir says why), not the build fail.
#
# Usage:
#   bash e2e/infra/build.sh              build (or reuse) and print TESTBIN=<dir> as the last line
#   bash e2e/infra/build.sh --print-dir  print the directory it would use; builds nothing
#
# Environment: CSI_TS_TESTBIN_CACHE (cache root), CSI_TS_GO_P (go build -p, default 2),
# CSI_TS_NICE (nice level of the go commands, default 10), CSI_TS_THIRD_PARTY (third-party source
# folders, default <repo>/../shared/third_party, or next to the checkout a local clone was made from).
# Only the 3 newest cache dirs are kept.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
log() { echo "build.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# prune_old_cache_dirs ROOT KEEP_DIR KEEP: removes all but the KEEP newest cache directories (by mtime)
# under ROOT, never KEEP_DIR itself, and only directories named like a cache key. Written without a
# pipeline so that an empty or near-empty cache root (a fresh machine) cannot trip `set -e`/pipefail.
prune_old_cache_dirs() {
  local root="$1" keep_dir="$2" keep="$3" dir kept=1
  local -a dirs=()
  shopt -s nullglob
  dirs=("$root"/*/)
  shopt -u nullglob
  ((${#dirs[@]} > 0)) || return 0
  # shellcheck disable=SC2012 # cache dir names are hex hashes
  mapfile -t dirs < <(ls -1dt -- "${dirs[@]}")
  for dir in "${dirs[@]}"; do
    dir="${dir%/}"
    [[ "$dir" != "$keep_dir" && "$(basename "$dir")" =~ ^[0-9a-f]{16}$ ]] || continue
    if ((kept < keep)); then
      kept=$((kept + 1))
    else
      log "pruning old cache dir $dir"
      rm -rf "$dir"
    fi
  done
}

mode=build
case "${1:-}" in
  "") ;;
  --print-dir) mode=print ;;
  -h | --help) sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument: $1 (expected --print-dir or nothing)" ;;
esac

command -v go >/dev/null 2>&1 ||
  die "'go' was not found in PATH. The e2e test infrastructure needs Go 1.26.x and the Go module proxy (see e2e/infra/README.md)."
export GOTOOLCHAIN=local # never download another toolchain behind our back
gover="$(go version)" || die "'go version' failed"
[[ "$gover" =~ go1\.(2[6-9]|[3-9][0-9]) ]] || die "Go >= 1.26 required, found: $gover"

# shellcheck source=versions.env
source "$here/versions.env"

# default_third_party: shared/third_party next to this checkout; for a clone of a local checkout (such as a
# clean clone made for a CI run), next to the checkout it was cloned from when it has none of its own.
default_third_party() {
  local origin
  if [[ -d "$repo/../shared/third_party" ]]; then
    (cd "$repo/../shared/third_party" && pwd)
    return
  fi
  origin="$(git -C "$repo" config --get remote.origin.url 2>/dev/null || true)"
  if [[ "$origin" == /* && -d "$origin/../shared/third_party" ]]; then
    (cd "$origin/../shared/third_party" && pwd)
    return
  fi
  echo "$(cd "$repo/.." && pwd)/shared/third_party"
}
third_party="${CSI_TS_THIRD_PARTY:-$(default_third_party)}"
# The source folders used from $third_party (hostpathplugin's only when the module proxy refuses it).
hostpath_src="csi-driver-host-path-${HOSTPATH_VERSION:-}"
registrar_src="node-driver-registrar-$REGISTRAR_VERSION"
livenessprobe_src="livenessprobe-$LIVENESSPROBE_VERSION"

hash_inputs() {
  echo "$gover"
  go env GOOS GOARCH
  cat "$here/versions.env" "$here/build.sh"
  (cd "$here" && find . \( -name go.mod -o -name go.sum -o -name '*.go' \) -not -path './*/testdata/*' -print | LC_ALL=C sort |
    while IFS= read -r f; do echo "== $f"; cat "$f"; done)
  # Third-party folders by content (names and checksums of their files; ~10 ms), not by location:
  # pointing CSI_TS_THIRD_PARTY at an identical copy keeps the key, a missing folder changes it.
  local d
  for d in "$hostpath_src" "$registrar_src" "$livenessprobe_src"; do
    echo "== third_party $d"
    if [[ -d "$third_party/$d" ]]; then
      (cd "$third_party/$d" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    else
      echo "(missing)"
    fi
  done
}
hash="$(hash_inputs | sha256sum | cut -c1-16)"
root="${CSI_TS_TESTBIN_CACHE:-$HOME/.cache/csi-ts-testbin}"
bindir="$root/$hash"

if [[ "$mode" == print ]]; then
  echo "$bindir"
  exit 0
fi

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9 # one build at a time per cache root

if [[ -f "$bindir/.complete" ]]; then
  log "cached build is complete: $bindir"
  echo "TESTBIN=$bindir"
  exit 0
fi

mkdir -p "$bindir/.partial"
p="${CSI_TS_GO_P:-2}"
nicecmd=(nice -n "${CSI_TS_NICE:-10}")
export CGO_ENABLED=0
summary=()
total_start=$SECONDS

# report_progress NAME: logs once a minute until sent SIGTERM, which also ends its sleep. The trap kills
# the subshell's jobs rather than a remembered pid: SIGTERM can arrive between `sleep &` and reading
# `$!` (a build function that returns at once, e.g. for an unavailable binary), and a stray sleep would
# hold the caller's output pipe and the cache lock (fd 9) for a minute. The sleep gets neither anyway.
report_progress() {
  local since
  since=$(date +%s)
  trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
  while :; do
    sleep 60 </dev/null >/dev/null 2>&1 9>&- &
    wait $! || true
    log "  ... still building $1 ($(($(date +%s) - since))s)"
  done
}

# build_one NAME FUNCTION: runs FUNCTION (which writes $bindir/.partial/NAME, or the reason why it
# cannot into $bindir/NAME.unavailable) unless NAME is already in $bindir, then moves the result into
# place. An unavailable binary is not retried for this cache key. FUNCTION may set build_note (where
# the source came from); it goes into the summary and .complete.
build_note=""
sources=()
build_one() {
  local name="$1" fn="$2" start heartbeat
  if [[ -x "$bindir/$name" ]]; then
    summary+=("$(printf '%-29s cached' "$name")")
    return 0
  fi
  if [[ -f "$bindir/$name.unavailable" ]]; then
    summary+=("$(printf '%-29s unavailable: %s' "$name" "$(cat "$bindir/$name.unavailable")")")
    return 0
  fi
  log "building $name ..."
  start=$SECONDS
  build_note=""
  # A cold build of kube-apiserver runs for minutes without output; say every minute that it is alive.
  report_progress "$name" &
  heartbeat=$!
  "$fn" "$bindir/.partial/$name" || { kill "$heartbeat"; die "building $name failed"; }
  kill "$heartbeat"
  wait "$heartbeat" 2>/dev/null || true
  if [[ -f "$bindir/$name.unavailable" ]]; then
    log "WARNING: $name not built: $(cat "$bindir/$name.unavailable")"
    summary+=("$(printf '%-29s unavailable: %s' "$name" "$(cat "$bindir/$name.unavailable")")")
    return 0
  fi
  [[ -x "$bindir/.partial/$name" ]] || die "building $name produced no binary"
  mv -f "$bindir/.partial/$name" "$bindir/$name"
  summary+=("$(printf '%-29s %4ds  %s%s' "$name" $((SECONDS - start)) "$(du -h "$bindir/$name" | cut -f1)" "${build_note:+  $build_note}")")
  if [[ -n "$build_note" ]]; then sources+=("$name.source=$build_note"); fi
  log "built $name in $((SECONDS - start))s"
}

# --- k8s helper module: kube-apiserver, kube-controller-manager, kube-scheduler, kubemark and the small helpers
# (hollownode: a kubemark hollow kubelet with controller attach/detach on) ---
k8s_tags="selinux,notest,grpcnotrace" # what upstream's release build uses
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitTreeState=clean"
if [[ "$K8S_VERSION" =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
  k8s_ldflags+=" -X k8s.io/component-base/version.gitMajor=${BASH_REMATCH[1]} -X k8s.io/component-base/version.gitMinor=${BASH_REMATCH[2]}"
fi
k8s_build() { # OUT PACKAGE
  (cd "$here/k8s" && "${nicecmd[@]}" go build -mod=readonly -buildvcs=false -p "$p" -trimpath -tags="$k8s_tags" -ldflags="$k8s_ldflags" -o "$1" "$2")
}
b_kube_apiserver() { k8s_build "$1" k8s.io/kubernetes/cmd/kube-apiserver; }
b_kcm() { k8s_build "$1" k8s.io/kubernetes/cmd/kube-controller-manager; }
b_kube_scheduler() { k8s_build "$1" k8s.io/kubernetes/cmd/kube-scheduler; }
b_kubemark() { k8s_build "$1" k8s.io/kubernetes/cmd/kubemark; }
b_fakekubelet() { k8s_build "$1" ./cmd/fakekubelet; }
b_fakeregistrar() { k8s_build "$1" ./cmd/fakeregistrar; }
b_mockdriver() { k8s_build "$1" ./cmd/mockdriver; }
b_hollownode() { k8s_build "$1" ./cmd/hollownode; }

# --- etcd helper module ---
b_etcd() {
  (cd "$here/etcd" && "${nicecmd[@]}" go build -mod=readonly -buildvcs=false -p "$p" -trimpath -ldflags="-s -w" -o "$1" go.etcd.io/etcd/server/v3)
}

# --- csi-sanity: its go.mod has no replace directives, so `go install` works ---
b_csi_sanity() {
  local gobin
  gobin="$(dirname "$1")/.gobin"
  mkdir -p "$gobin"
  (cd "$root" && GOBIN="$gobin" "${nicecmd[@]}" go install -buildvcs=false -p "$p" -trimpath \
    -ldflags="-s -w -X main.VERSION=$CSI_TEST_VERSION" \
    "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_TEST_VERSION")
  mv -f "$gobin/csi-sanity" "$1"
}

# --- upstream Go external-attacher, for side-by-side runs with the TypeScript one. Its go.mod has
# replace directives, so `go install …@version` refuses it; the helper module attacher/ requires it
# (a `tool` directive, same selected versions as upstream's own build). Version string as upstream's
# Makefile sets it. ---
b_csi_attacher() {
  local pinned
  pinned="$(cd "$here/attacher" && go list -mod=readonly -m -f '{{.Version}}' github.com/kubernetes-csi/external-attacher/v4)" ||
    return 1
  [[ "$pinned" == "$ATTACHER_VERSION" ]] || {
    log "attacher/go.mod requires external-attacher $pinned but versions.env says ATTACHER_VERSION=$ATTACHER_VERSION (see e2e/infra/README.md)"
    return 1
  }
  (cd "$here/attacher" && "${nicecmd[@]}" go build -mod=readonly -buildvcs=false -p "$p" -trimpath \
    -ldflags="-s -w -X main.version=$ATTACHER_VERSION" -o "$1" github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher)
}

# src_build SRCDIR CMD VERSION OUT: builds ./cmd/CMD of the Go module in SRCDIR from a writable temp
# copy (the source may be read-only, and -mod=mod lets go complete go.sum), as upstream's Makefile
# does: version in main.version.
src_build() {
  local work rc=0
  work="$(mktemp -d)"
  if cp -r "$1/." "$work/" && chmod -R u+w "$work"; then
    (cd "$work" && GOFLAGS="${GOFLAGS:-} -mod=mod" "${nicecmd[@]}" go build -buildvcs=false -p "$p" -trimpath \
      -ldflags="-s -w -X main.version=$3" -o "$4" "./cmd/$2") || rc=$?
  else
    rc=1
  fi
  rm -rf "$work"
  return $rc
}

# third_party_missing SUBDIR: prints why $third_party/SUBDIR cannot be used (nothing when it can).
third_party_missing() {
  [[ -f "$third_party/$1/go.mod" ]] && return 0
  if [[ -n "${CSI_TS_THIRD_PARTY:-}" ]]; then
    echo "no source folder $third_party/$1 (with a go.mod) in CSI_TS_THIRD_PARTY=$CSI_TS_THIRD_PARTY"
  else
    echo "no source folder $third_party/$1 (with a go.mod); CSI_TS_THIRD_PARTY is not set (that is its default)"
  fi
}

# --- hostpathplugin: built from its module source (its go.mod has replace directives, so
# `go install` cannot work). First from the module proxy; when the proxy definitely refuses the
# module (it does here), from $third_party/csi-driver-host-path-<version>. Optional: when neither
# works, the reasons are written to hostpathplugin.unavailable and the build goes on.
b_hostpathplugin() {
  local json dir reason missing
  [[ -n "${HOSTPATH_VERSION:-}" ]] || { echo "HOSTPATH_VERSION is not set in versions.env" >"$bindir/hostpathplugin.unavailable"; return 0; }
  if json="$(cd "$root" && go mod download -json "github.com/kubernetes-csi/csi-driver-host-path@$HOSTPATH_VERSION" 2>&1)"; then
    dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
    log "hostpathplugin $HOSTPATH_VERSION: from the module proxy ($dir)"
    build_note="from the module proxy"
    src_build "$dir" hostpathplugin "$HOSTPATH_VERSION" "$1"
    return
  fi
  reason="$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' <<<"$json" | head -1)"
  reason="$(sed -e 's/\\[nt]/ /g' -e 's/reading [^ ]*: //' -e 's/  */ /g' <<<"${reason:-$json}")"
  # Only a definite refusal falls back to the source folder; anything else (network trouble) is fatal.
  if ! grep -qE '403|404|410|not available|not found|unknown revision|invalid version' <<<"$reason"; then
    log "go mod download failed: $reason"
    return 1
  fi
  reason="module proxy refused github.com/kubernetes-csi/csi-driver-host-path@$HOSTPATH_VERSION: ${reason#github.com/kubernetes-csi/csi-driver-host-path@"$HOSTPATH_VERSION": }"
  missing="$(third_party_missing "$hostpath_src")"
  if [[ -n "$missing" ]]; then
    echo "$reason; $missing" >"$bindir/hostpathplugin.unavailable"
    return 0
  fi
  log "hostpathplugin $HOSTPATH_VERSION: from $third_party/$hostpath_src ($reason)"
  build_note="from $third_party/$hostpath_src"
  src_build "$third_party/$hostpath_src" hostpathplugin "$HOSTPATH_VERSION" "$1"
}

# --- upstream's Go node-driver-registrar and livenessprobe, benchmark baselines for the TypeScript
# ones (the go- prefix keeps them apart from this project's bundles). The module proxy refuses both
# modules, so only the source folders are tried; optional like hostpathplugin. ---
third_party_build() { # SUBDIR CMD VERSION OUT
  local missing
  missing="$(third_party_missing "$1")"
  if [[ -n "$missing" ]]; then
    echo "$missing" >"$bindir/$(basename "$4").unavailable"
    return 0
  fi
  log "$(basename "$4") $3: from $third_party/$1"
  build_note="from $third_party/$1"
  src_build "$third_party/$1" "$2" "$3" "$4"
}
b_go_registrar() { third_party_build "$registrar_src" csi-node-driver-registrar "$REGISTRAR_VERSION" "$1"; }
b_go_livenessprobe() { third_party_build "$livenessprobe_src" livenessprobe "$LIVENESSPROBE_VERSION" "$1"; }

# --- CRDs the e2e tests install: VolumeSnapshot (external-snapshotter client module) and ReferenceGrant
# (Gateway API module), copied into crds/ ---
module_dir() { # MODULE@VERSION
  local json
  json="$(cd "$root" && go mod download -json "$1")" || die "go mod download $1 failed: $json"
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json"
}
copy_crds() {
  local snapshotter gateway
  [[ -f "$bindir/crds/.complete" ]] && { summary+=("$(printf '%-29s cached' crds)"); return 0; }
  snapshotter="$(module_dir "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_CLIENT_VERSION")"
  gateway="$(module_dir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
  rm -rf "$bindir/.partial/crds"
  mkdir -p "$bindir/.partial/crds"
  cp "$snapshotter"/config/crd/snapshot.storage.k8s.io_*.yaml \
    "$gateway"/config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml "$bindir/.partial/crds/"
  chmod -R u+w "$bindir/.partial/crds"
  touch "$bindir/.partial/crds/.complete"
  rm -rf "$bindir/crds"
  mv "$bindir/.partial/crds" "$bindir/crds"
  summary+=("$(printf '%-29s snapshot.storage.k8s.io (client %s), referencegrants (gateway-api %s)' crds "$SNAPSHOTTER_CLIENT_VERSION" "$GATEWAY_API_VERSION")")
}

build_one etcd b_etcd
build_one csi-sanity b_csi_sanity
build_one kube-apiserver b_kube_apiserver
build_one kube-controller-manager b_kcm
build_one kube-scheduler b_kube_scheduler
build_one kubemark b_kubemark
build_one fakekubelet b_fakekubelet
build_one fakeregistrar b_fakeregistrar
build_one mockdriver b_mockdriver
build_one hollownode b_hollownode
build_one csi-attacher b_csi_attacher
copy_crds
build_one hostpathplugin b_hostpathplugin
build_one go-csi-node-driver-registrar b_go_registrar
build_one go-livenessprobe b_go_livenessprobe

rm -rf "$bindir/.partial" "$bindir/.gobin"
{
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "go=$gover"
  grep -E '^[A-Z0-9_]+=' "$here/versions.env"
  ((${#sources[@]} == 0)) || printf '%s\n' "${sources[@]}"
} >"$bindir/.complete"

prune_old_cache_dirs "$root" "$bindir" 3

log "timings (this run, ${SECONDS}s since start, $((SECONDS - total_start))s building):"
for line in "${summary[@]}"; do log "  $line"; done
echo "TESTBIN=$bindir"
