#!/usr/bin/env bash
# Derives the k8s.io staging-module `replace` directives of e2e/infra/k8s/go.mod from the go.mod of
# k8s.io/kubernetes itself, pins the k8s tools to K8S_VERSION (versions.env) and tidies the module.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) as v0.0.0 and
# points them at ./staging/src/... in its own go.mod. Those replaces do not apply to a module that
# depends on k8s.io/kubernetes, so every consumer has to repeat them with real versions. The list
# changes between minor releases, so it is never maintained by hand: bump K8S_VERSION in
# versions.env, run this script, commit go.mod and go.sum.
#
# Only staging modules that k8s.io/kubernetes actually requires get a replace (1.36: 31 of 33;
# sample-cli-plugin and sample-controller are replaced but never required upstream, and the module
# proxy reachable here does not serve sample-cli-plugin at all).
#
# Usage: bash e2e/infra/sync-k8s-replaces.sh [--no-tidy]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
moddir="$here/k8s"
tidy=1
[[ "${1:-}" == "--no-tidy" ]] && tidy=0

in_list() { # NEEDLE ITEMS...
  local n="$1" x
  shift
  for x in "$@"; do [[ "$x" == "$n" ]] && return 0; done
  return 1
}

export GOTOOLCHAIN=local
command -v go >/dev/null || { echo "sync-k8s-replaces: 'go' not found in PATH" >&2; exit 1; }
cd "$moddir"

# k8s.io/kubernetes v1.Y.Z is released together with staging modules tagged v0.Y.Z (and
# kubernetes-1.Y.Z; the module proxy used here refuses non-semver queries such as
# @kubernetes-1.36.3, so the v0.Y.Z form is derived and then confirmed for every module).
[[ "$K8S_VERSION" =~ ^v1\.([0-9]+\.[0-9]+.*)$ ]] || { echo "sync-k8s-replaces: unexpected K8S_VERSION $K8S_VERSION" >&2; exit 1; }
staging_version="v0.${BASH_REMATCH[1]}"

kk_gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[[ -f "$kk_gomod" ]] || { echo "sync-k8s-replaces: cannot locate go.mod of k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }

# Staging modules: `k8s.io/X => ./staging/src/k8s.io/X`; keep those k8s.io/kubernetes requires.
mapfile -t all_staging < <(sed -n 's#^[[:space:]]*\(replace[[:space:]]*\)\{0,1\}\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/\2[[:space:]]*$#\2#p' "$kk_gomod" | sort -u)
((${#all_staging[@]} > 0)) || { echo "sync-k8s-replaces: no staging replaces found in $kk_gomod" >&2; exit 1; }
mapfile -t required < <(sed -n 's#^[[:space:]]*\(require[[:space:]]*\)\{0,1\}\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]][[:space:]]*v[^[:space:]]*.*$#\2#p' "$kk_gomod" | sort -u)
staging=()
for m in "${all_staging[@]}"; do
  if in_list "$m" "${required[@]}"; then staging+=("$m"); else echo "sync-k8s-replaces: $m is not required by k8s.io/kubernetes, no replace"; fi
done
echo "sync-k8s-replaces: k8s.io/kubernetes@$K8S_VERSION requires ${#staging[@]} of its ${#all_staging[@]} staging modules; pinning them to $staging_version"

# Confirm every module at that version (4 look-ups in parallel) before touching go.mod.
resolved="$(printf '%s\n' "${staging[@]}" |
  xargs -P 4 -I{} go list -m -f '{{.Path}}={{.Path}}@{{.Version}}' "{}@$staging_version" | sort)" ||
  { echo "sync-k8s-replaces: some staging module is not available at $staging_version" >&2; exit 1; }
count="$(grep -c . <<<"$resolved")"
((count == ${#staging[@]})) || { echo "sync-k8s-replaces: resolved $count of ${#staging[@]} modules" >&2; exit 1; }

# Drop k8s.io replaces that are no longer needed (e.g. after a minor-version bump).
mapfile -t current < <(go mod edit -print |
  sed -n 's#^\(replace\)\{0,1\}[[:space:]]*\(k8s\.io/[^[:space:]]*\)\([[:space:]][^=[:space:]]*\)\{0,1\}[[:space:]]*=>.*#\2#p' | sort -u)
for old in "${current[@]}"; do
  in_list "$old" "${staging[@]}" && continue
  echo "sync-k8s-replaces: dropping stale replace $old"
  go mod edit -dropreplace="$old"
done
args=()
while IFS= read -r r; do args+=("-replace=$r"); done <<<"$resolved"
go mod edit "${args[@]}"

if ((tidy)); then
  go get -tool \
    "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubemark@$K8S_VERSION"
  go mod tidy
fi
echo "sync-k8s-replaces: done"
