#!/usr/bin/env bash
# Opt-in end-to-end run on kind for machines with Docker and internet access (never part of CI here):
# builds the images of the sidecars implemented so far from images/Dockerfile, creates a kind cluster,
# deploys the upstream hostpath CSI driver with those images and our RBAC in place of upstream's, and
# checks that a claim is provisioned, attached (via a pod) and deleted. The node plugin keeps upstream's
# csi-node-driver-registrar: this script does not swap that image yet.
#
# Usage: e2e/kind/run.sh [--keep]     (--keep leaves the cluster running)
# Env:   KIND_NODE_IMAGE (default kindest/node:v1.36.3), HOSTPATH_VERSION (default v1.18.0), TAG (default e2e)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cluster=csi-ts-e2e
tag="${TAG:-e2e}"
hostpath_version="${HOSTPATH_VERSION:-v1.18.0}"
node_image="${KIND_NODE_IMAGE:-kindest/node:v1.36.3}"
keep=0
[[ "${1:-}" == --keep ]] && keep=1

for tool in docker kind kubectl git; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
cleanup() {
  rm -rf "$work"
  ((keep)) || kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== building images"
sidecars=(csi-provisioner csi-attacher livenessprobe)
for sidecar in "${sidecars[@]}"; do
  docker build -f "$repo/images/Dockerfile" --build-arg SIDECAR="$sidecar" -t "$sidecar:$tag" "$repo"
done

echo "== kind cluster"
kind create cluster --name "$cluster" --image "$node_image" --wait 5m
for sidecar in "${sidecars[@]}"; do
  kind load docker-image --name "$cluster" "$sidecar:$tag"
done

echo "== hostpath driver $hostpath_version with our ${sidecars[*]} and RBAC"
git clone --depth 1 --branch "$hostpath_version" https://github.com/kubernetes-csi/csi-driver-host-path "$work/hostpath"
# deploy.sh swaps images with <NAME>_REGISTRY=none <NAME>_TAG=<tag> and RBAC with <NAME>_RBAC=<file>.
CSI_PROVISIONER_REGISTRY=none CSI_PROVISIONER_TAG="$tag" CSI_PROVISIONER_RBAC="$repo/manifests/rbac/csi-provisioner.yaml" \
  CSI_ATTACHER_REGISTRY=none CSI_ATTACHER_TAG="$tag" CSI_ATTACHER_RBAC="$repo/manifests/rbac/csi-attacher.yaml" \
  LIVENESSPROBE_REGISTRY=none LIVENESSPROBE_TAG="$tag" \
  "$work/hostpath/deploy/kubernetes-latest/deploy.sh"

echo "== provision, attach, delete"
kubectl apply -f "$work/hostpath/examples/csi-storageclass.yaml"
kubectl apply -f "$work/hostpath/examples/csi-pvc.yaml"
kubectl apply -f "$work/hostpath/examples/csi-app.yaml"
kubectl wait --for=jsonpath='{.status.phase}'=Bound pvc/csi-pvc --timeout=180s
kubectl wait --for=condition=Ready pod/my-csi-app --timeout=300s
kubectl get volumeattachments -o wide
# With attachRequired in the driver's CSIDriver there is a VolumeAttachment, and ours has marked it attached.
if kubectl get volumeattachments -o name | grep -q .; then
  kubectl wait --for=jsonpath='{.status.attached}'=true volumeattachments --all --timeout=120s
fi
kubectl delete -f "$work/hostpath/examples/csi-app.yaml" --wait
kubectl delete -f "$work/hostpath/examples/csi-pvc.yaml" --wait
kubectl wait --for=delete pv --all --timeout=180s
echo "kind e2e: PASS"
