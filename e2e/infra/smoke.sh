#!/usr/bin/env bash
# Quick health check of the binaries built by build.sh: versions, etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, hollownode (--version), mockdriver (+ hostpathplugin when built) against csi-sanity, fakekubelet
# with fakeregistrar, and optionally a kubemark hollow kubelet registering a CSI driver. The optional
# binaries built from third-party sources (hostpathplugin, go-csi-node-driver-registrar,
# go-livenessprobe) are checked when built and reported as SKIP (with build.sh's reason) when not.
# Everything runs on loopback / unix sockets under a temp dir and is stopped on exit.
#
# Usage: bash e2e/infra/smoke.sh [--kubemark] [--full-sanity]
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
with_kubemark=0 full_sanity=0
for a in "$@"; do
  case "$a" in
    --kubemark) with_kubemark=1 ;;
    --full-sanity) full_sanity=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done

bin="$(bash "$here/build.sh" --print-dir)" || exit 1
[[ -f "$bin/.complete" ]] || { echo "smoke: $bin is not built; run e2e/infra/build.sh first" >&2; exit 1; }
tmp="$(mktemp -d /tmp/csi-smoke.XXXXXX)" # short path: unix socket paths are limited to 107 bytes
pids=()
passed=0 failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
extra_dirs=()
stop_pid() { # PID: SIGTERM, up to 15 s grace, then SIGKILL
  local pid="$1" n=0
  kill "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && ((n < 60)); do sleep 0.25; n=$((n + 1)); done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  local i
  # One at a time in reverse start order: kube-apiserver must be gone before etcd is stopped,
  # otherwise its shutdown hangs on etcd reconnects.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  rm -rf "$tmp" "${extra_dirs[@]}"
}
trap cleanup EXIT
start() { # NAME CMD... : runs CMD in the background, stdout+stderr to $tmp/NAME.log
  local name="$1"
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
}
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    [[ -z "$(ss -Htln "sport = :$p")" ]] && { echo "$p"; return; }
  done
}
wait_for() { # SECONDS CMD... : polls CMD every 0.25 s
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}
in_list() { # NEEDLE ITEMS...
  local n="$1" x
  shift
  for x in "$@"; do [[ "$x" == "$n" ]] && return 0; done
  return 1
}
wait_line() { # SECONDS FILE PATTERN
  wait_for "$1" grep -q -- "$3" "$2"
}

echo "== binaries in $bin"
for b in kube-apiserver kube-controller-manager kube-scheduler kubemark hollownode etcd csi-sanity fakekubelet mockdriver csi-attacher; do
  if v="$("$bin/$b" --version 2>&1)"; then ok "$b --version: ${v%%$'\n'*}"; else bad "$b --version: $v"; fi
done
h="$("$bin/fakeregistrar" -h 2>&1)"
if grep -q -- -socket <<<"$h"; then ok "fakeregistrar -h"; else bad "fakeregistrar -h: $h"; fi
# built NAME: true when build.sh built the optional binary NAME, else false and (the first time) a
# SKIP line with build.sh's reason.
declare -A skip_said=()
built() {
  [[ -x "$bin/$1" ]] && return 0
  if [[ -z "${skip_said[$1]:-}" ]]; then
    skip_said[$1]=1
    echo "SKIP: $1 not built: $(cat "$bin/$1.unavailable" 2>/dev/null || echo "no $1.unavailable note either")"
  fi
  return 1
}
version_is() { # NAME VERSION: NAME --version must mention VERSION
  local v
  if v="$("$bin/$1" --version 2>&1)" && grep -qF -- " $2" <<<"$v"; then ok "$1 --version: ${v%%$'\n'*}"; else
    bad "$1 --version (want $2): $v"
  fi
}
built hostpathplugin && version_is hostpathplugin "$HOSTPATH_VERSION"
built go-csi-node-driver-registrar && version_is go-csi-node-driver-registrar "$REGISTRAR_VERSION"
# Upstream's livenessprobe has neither --version nor a version log line; it is checked below by
# answering /healthz for mockdriver.

echo "== etcd"
cport="$(pick_port)" pport="$(pick_port)"
start etcd "$bin/etcd" --name=test --data-dir="$tmp/etcd" \
  --listen-client-urls="http://127.0.0.1:$cport" --advertise-client-urls="http://127.0.0.1:$cport" \
  --listen-peer-urls="http://127.0.0.1:$pport" --initial-advertise-peer-urls="http://127.0.0.1:$pport" \
  --initial-cluster="test=http://127.0.0.1:$pport" --unsafe-no-fsync --log-level=warn
t0=$SECONDS
if wait_for 30 sh -c "curl -sf http://127.0.0.1:$cport/health | grep -q '\"health\":\"true\"'"; then
  ok "etcd /health after $((SECONDS - t0))s: $(curl -s "http://127.0.0.1:$cport/health")"
else
  bad "etcd /health"; tail -5 "$tmp/etcd.log"
fi

sanity() { # NAME ENDPOINT EXTRA... : runs csi-sanity and reports ginkgo's counts
  local name="$1" ep="$2"
  shift 2
  mkdir -p "$tmp/$name-target" "$tmp/$name-staging"
  timeout 600 "$bin/csi-sanity" --ginkgo.no-color --csi.endpoint="$ep" --csi.mountdir="$tmp/$name-target/m" \
    --csi.stagingdir="$tmp/$name-staging/s" "$@" >"$tmp/$name-sanity.log" 2>&1
  local rc=$? counts
  counts="$(grep -E '^(Ran [0-9]+ of [0-9]+ Specs|(SUCCESS|FAIL)! .*Passed)' "$tmp/$name-sanity.log" | tr '\n' ' ')"
  if ((rc == 0)); then ok "csi-sanity $name $*: $counts"; else
    bad "csi-sanity $name $* (rc=$rc): $counts"
    grep -E '^\s*\[FAIL\]' "$tmp/$name-sanity.log" | sort -u | head -20
  fi
}

echo "== mockdriver + csi-sanity"
start mockdriver "$bin/mockdriver" --endpoint="unix://$tmp/mock.sock" --enable-topology -v=3
if wait_for 10 test -S "$tmp/mock.sock"; then
  # Known gaps of the mock: it advertises MODIFY_VOLUME but accepts any ControllerModifyVolume and
  # any mutable parameters, so the 5 specs about VolumeAttributesClass/ModifyVolume errors fail.
  mock_skip='ModifyVolume|invalid volume attribute class'
  sanity mock "unix://$tmp/mock.sock" --ginkgo.focus=Controller --ginkgo.skip="$mock_skip"
  ((full_sanity)) && sanity mock-all "unix://$tmp/mock.sock" --ginkgo.skip="$mock_skip"
  if built go-livenessprobe; then
    lport="$(pick_port)"
    start go-livenessprobe "$bin/go-livenessprobe" --csi-address="$tmp/mock.sock" --http-endpoint="127.0.0.1:$lport"
    if wait_for 15 curl -sf "http://127.0.0.1:$lport/healthz"; then
      ok "go-livenessprobe /healthz for mockdriver: $(curl -s "http://127.0.0.1:$lport/healthz")"
    else bad "go-livenessprobe /healthz"; tail -5 "$tmp/go-livenessprobe.log"; fi
  fi
else bad "mockdriver socket"; fi

if built hostpathplugin; then
  echo "== hostpathplugin + csi-sanity"
  start hostpathplugin "$bin/hostpathplugin" --endpoint="unix://$tmp/hp.sock" --nodeid=n1 --statedir="$tmp/hp" -v=3
  if wait_for 10 test -S "$tmp/hp.sock"; then
    sanity hostpath "unix://$tmp/hp.sock" --ginkgo.focus=Controller
    ((full_sanity)) && sanity hostpath-all "unix://$tmp/hp.sock"
  else bad "hostpathplugin socket"; fi
fi

echo "== fakekubelet + fakeregistrar"
reg="$tmp/plugins_registry"
start fakekubelet "$bin/fakekubelet" --plugin-dir="$reg" --node-get-info --node-get-info-timeout=5s --reject=rejected.example.com
if wait_line 10 "$tmp/fakekubelet.log" '"event":"started"'; then
  start reg-good "$bin/fakeregistrar" --socket="$reg/io.kubernetes.storage.mock-reg.sock" \
    --name=io.kubernetes.storage.mock --endpoint="$tmp/mock.sock" --versions=1.0.0
  good_pid=${pids[-1]}
  if wait_line 15 "$tmp/fakekubelet.log" '"event":"registered","time":"[^"]*","name":"io.kubernetes.storage.mock"' &&
    wait_line 5 "$tmp/reg-good.log" '"registered":true'; then
    ok "fakekubelet registered the mock driver: $(grep -m1 '"registered"' "$tmp/fakekubelet.log")"
  else bad "fakekubelet registration"; cat "$tmp/fakekubelet.log" "$tmp/reg-good.log"; fi
  start reg-bad "$bin/fakeregistrar" --socket="$reg/rejected-reg.sock" --name=rejected.example.com --versions=1.0.0
  if wait_line 15 "$tmp/reg-bad.log" '"registered":false'; then
    ok "fakekubelet --reject: $(grep -m1 '"registered":false' "$tmp/reg-bad.log")"
  else bad "fakekubelet --reject"; cat "$tmp/fakekubelet.log" "$tmp/reg-bad.log"; fi
  start reg-nov "$bin/fakeregistrar" --socket="$reg/noversion-reg.sock" --name=noversion.example.com --versions=
  if wait_line 15 "$tmp/reg-nov.log" '"registered":false'; then
    ok "fakekubelet rejects empty versions: $(grep -m1 '"registered":false' "$tmp/reg-nov.log")"
  else bad "fakekubelet empty versions"; fi
  kill "$good_pid"
  if wait_line 15 "$tmp/fakekubelet.log" '"event":"deregistered"'; then
    ok "fakekubelet deregistered: $(grep -m1 '"deregistered"' "$tmp/fakekubelet.log")"
  else bad "fakekubelet deregistration"; cat "$tmp/fakekubelet.log"; fi
  # Upstream's Go registrar takes over the mock driver's registration socket name: a second
  # `registered` line for the mock driver (fakekubelet also calls NodeGetInfo through it).
  if built go-csi-node-driver-registrar; then
    start go-registrar "$bin/go-csi-node-driver-registrar" --csi-address="$tmp/mock.sock" \
      --kubelet-registration-path="$tmp/mock.sock" --plugin-registration-path="$reg"
    if wait_for 15 sh -c "test \$(grep -c '\"event\":\"registered\",\"time\":\"[^\"]*\",\"name\":\"io.kubernetes.storage.mock\"' '$tmp/fakekubelet.log') -ge 2"; then
      ok "fakekubelet registered the mock driver through go-csi-node-driver-registrar: $(grep '"registered"' "$tmp/fakekubelet.log" | tail -1)"
    else bad "go-csi-node-driver-registrar registration"; tail -5 "$tmp/fakekubelet.log" "$tmp/go-registrar.log"; fi
  fi
else bad "fakekubelet start"; cat "$tmp/fakekubelet.log"; fi

echo "== kube-apiserver"
pki="$tmp/pki"
mkdir -p "$pki"
(
  cd "$pki" || exit 1
  openssl genrsa -out sa.key 2048
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=csi-smoke-ca
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext
) >"$tmp/openssl.log" 2>&1 || { bad "openssl"; cat "$tmp/openssl.log"; }
token="smoke-$RANDOM$RANDOM"
echo "$token,admin,admin-uid,\"system:masters\"" >"$pki/tokens.csv"
aport="$(pick_port)"
start kube-apiserver "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$cport" \
  --bind-address=127.0.0.1 --secure-port="$aport" --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-signing-key-file="$pki/sa.key" --service-account-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC \
  --tls-cert-file="$pki/server.crt" --tls-private-key-file="$pki/server.key" \
  --token-auth-file="$pki/tokens.csv" --cert-dir="$tmp/apiserver" --disable-admission-plugins=ServiceAccount
api() { curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$aport$1"; }
t0=$SECONDS
if wait_for 90 api /readyz; then
  ok "kube-apiserver /readyz after $((SECONDS - t0))s; /version gitVersion=$(api /version | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p')"
  apiserver_up=1
else
  bad "kube-apiserver /readyz"; tail -20 "$tmp/kube-apiserver.log"; apiserver_up=0
fi
errs="$(grep -c '^E' "$tmp/kube-apiserver.log")"
echo "INFO: kube-apiserver logged $errs error lines; most frequent:"
grep '^E' "$tmp/kube-apiserver.log" | sed 's/^E[0-9 :.]*[0-9]* [^]]*\] //' | cut -c1-140 | sort | uniq -c | sort -rn | head -5

cat >"$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster:
    server: https://127.0.0.1:$aport
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: smoke
  context: {cluster: smoke, user: admin}
current-context: smoke
EOF

if ((apiserver_up)); then
  echo "== kube-controller-manager"
  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$tmp/kubeconfig" \
    --controllers=persistentvolume-binder-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller,persistentvolume-attach-detach-controller,persistentvolume-expander-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller \
    --leader-elect=false --use-service-account-credentials=false --bind-address=127.0.0.1 --secure-port=0
  kcm_pid=${pids[-1]}
  sleep 15
  if kill -0 "$kcm_pid" 2>/dev/null && api /api/v1/namespaces/default/serviceaccounts/default >/dev/null; then
    ok "kube-controller-manager running with --secure-port=0 (serviceaccount controller created default/default)"
  else
    bad "kube-controller-manager"; tail -20 "$tmp/kube-controller-manager.log"
  fi

  echo "== kube-scheduler"
  # No HTTPS endpoint (--secure-port=0), so readiness is its V(3) log line after the informer sync.
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$tmp/kubeconfig" --leader-elect=false --secure-port=0 --v=3
  t0=$SECONDS
  if wait_line 60 "$tmp/kube-scheduler.log" 'Handlers synced' && kill -0 "${pids[-1]}" 2>/dev/null; then
    ok "kube-scheduler running with --secure-port=0, informers synced after $((SECONDS - t0))s"
  else
    bad "kube-scheduler"; tail -20 "$tmp/kube-scheduler.log"
  fi
fi

if ((apiserver_up && with_kubemark)); then
  echo "== kubemark --morph=kubelet"
  kport="$(pick_port)" kroport="$(pick_port)"
  # The hollow kubelet's fake CRI listens on /tmp/kubelet_remote_<random>.sock and leaves it behind.
  mapfile -t cri_before < <(ls /tmp/kubelet_remote_*.sock 2>/dev/null)
  start kubemark "$bin/kubemark" --morph=kubelet --name=hollow-1 --kubeconfig="$tmp/kubeconfig" \
    --kubelet-port="$kport" --kubelet-read-only-port="$kroport" --use-host-image-service=false --v=2
  t0=$SECONDS
  if wait_for 60 sh -c "curl -sf --cacert '$pki/ca.crt' -H 'Authorization: Bearer $token' https://127.0.0.1:$aport/api/v1/nodes/hollow-1 | tr -d ' \n' | grep -q '\"type\":\"Ready\",\"status\":\"True\"'"; then
    ok "kubemark hollow node Ready after $((SECONDS - t0))s"
    echo "INFO: node created $(api /api/v1/nodes/hollow-1 | grep -m1 -o '"creationTimestamp": "[^"]*"'), $(api /api/v1/nodes/hollow-1 | tr -d ' \n' | grep -o '"type":"Ready","status":"True"[^}]*')"
  elif api /api/v1/nodes/hollow-1 >/dev/null; then
    ok "kubemark hollow node registered (not Ready after 60s)"
    echo "INFO: Ready condition: $(api /api/v1/nodes/hollow-1 | tr -d '\n' | grep -o '"type": "Ready",[^}]*')"
  else
    bad "kubemark node registration"; grep -E '^[EF]' "$tmp/kubemark.log" | head -20
  fi
  # The hollow kubelet's root dir is always /tmp/hollow-kubelet.<random> (TMPDIR is ignored).
  kroot="$(sed -n 's/.*Using \(.*\) as root dir for hollow-kubelet.*/\1/p' "$tmp/kubemark.log" | head -1)"
  [[ "$kroot" == /tmp/hollow-kubelet.* ]] && extra_dirs+=("$kroot")
  if [[ -n "$kroot" ]] && wait_for 30 test -d "$kroot/plugins_registry"; then
    start km-reg "$bin/fakeregistrar" --socket="$kroot/plugins_registry/io.kubernetes.storage.mock-reg.sock" \
      --name=io.kubernetes.storage.mock --endpoint="$tmp/mock.sock" --versions=1.0.0
    if wait_line 30 "$tmp/km-reg.log" '"registered":true' &&
      wait_for 30 sh -c "curl -sf --cacert '$pki/ca.crt' -H 'Authorization: Bearer $token' https://127.0.0.1:$aport/apis/storage.k8s.io/v1/csinodes/hollow-1 | grep -q io.kubernetes.storage.mock"; then
      ok "kubemark registered the mock driver and wrote CSINode hollow-1: $(api /apis/storage.k8s.io/v1/csinodes/hollow-1 | tr -d ' \n' | grep -o '"drivers":\[[^]]*\]')"
    else
      bad "kubemark CSI registration"; cat "$tmp/km-reg.log"; grep -iE 'csi|plugin' "$tmp/kubemark.log" | tail -10
    fi
  else
    bad "kubemark root dir / plugins_registry not found (root dir: '$kroot')"
  fi
  for f in /tmp/kubelet_remote_*.sock; do
    [[ -e "$f" ]] && ! in_list "$f" "${cri_before[@]}" && extra_dirs+=("$f")
  done
  echo "INFO: kubemark listening sockets: $(ss -Htlnp | grep kubemark | awk '{print $4}' | tr '\n' ' ')"
fi

echo "$passed passed, $failed failed"
((failed == 0))
