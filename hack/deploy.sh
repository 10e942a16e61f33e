#!/usr/bin/env bash
# Usage: hack/deploy.sh deploy|undeploy
#
# Installs (deploy) or removes (undeploy) the provider in the cluster of the
# current kubeconfig: the chart charts/capmaas rendered by helm (CRDs, RBAC,
# ServiceAccount, Deployment, Secret wiring), applied with kubectl server-side
# apply. No Helm release is kept: a second deploy with the same values changes
# nothing, and undeploy deletes exactly what the rendering contains, then the
# namespace. `make deploy` / `make undeploy` run it.
#
# Environment:
#   DEPLOY_NAMESPACE  namespace (default capmaas-system)
#   DEPLOY_ARGS       extra helm arguments, e.g. "--set credentials.existingSecret=maas-admin"
#                     or "-f my-values.yaml" (docs/helm.md lists the values)
#   HELM_BIN          helm (default: helm on PATH, else hack/release/tool.sh helm builds it)
#   KUBECTL           kubectl (default: kubectl on PATH)
#   KUBECONFIG        as kubectl reads it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

action=${1:-}
case "$action" in
  deploy | undeploy) ;;
  *) echo "usage: hack/deploy.sh deploy|undeploy" >&2; exit 2 ;;
esac
namespace=${DEPLOY_NAMESPACE:-capmaas-system}
kubectl=${KUBECTL:-kubectl}
if [ -n "${HELM_BIN:-}" ]; then
  helm=$HELM_BIN
elif command -v helm >/dev/null 2>&1; then
  helm=helm
else
  helm="$("$root/hack/release/tool.sh" helm)"
fi
command -v "$kubectl" >/dev/null 2>&1 || {
  echo "deploy: kubectl not found (set KUBECTL=/path/to/kubectl)" >&2; exit 1; }

server_version() {
  "$kubectl" version -o json 2>/dev/null |
    sed -n '/"serverVersion"/,/}/s/.*"gitVersion": *"v\{0,1\}\([0-9][0-9.]*\).*/\1/p' | head -1
}
kube_version="$(server_version)"
if [ -z "$kube_version" ]; then
  echo "deploy: no cluster answers for the current kubeconfig (${KUBECONFIG:-~/.kube/config})" >&2
  exit 1
fi

render() {
  # shellcheck disable=SC2086 # DEPLOY_ARGS is a list of helm arguments
  "$helm" template capmaas "$root/charts/capmaas" --namespace "$namespace" --include-crds \
    --kube-version "$kube_version" ${DEPLOY_ARGS:-}
}
manifests="$(render)"

if [ "$action" = deploy ]; then
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$namespace" |
    "$kubectl" apply --server-side --field-manager=capmaas-deploy -f - >&2
  printf '%s\n' "$manifests" |
    "$kubectl" apply --server-side --field-manager=capmaas-deploy --force-conflicts -f - >&2
  "$kubectl" wait --for=condition=Established --timeout=60s \
    crd/maasmachines.infrastructure.cluster.x-k8s.io crd/maasclusters.infrastructure.cluster.x-k8s.io \
    crd/maasmachinetemplates.infrastructure.cluster.x-k8s.io \
    crd/maasclustertemplates.infrastructure.cluster.x-k8s.io >&2
  echo "deploy: capmaas is installed in namespace $namespace (kubectl -n $namespace rollout status deployment/capmaas-controller-manager)" >&2
else
  printf '%s\n' "$manifests" | "$kubectl" delete --ignore-not-found --wait=false -f - >&2
  "$kubectl" delete namespace "$namespace" --ignore-not-found --wait=false >&2
  echo "deploy: capmaas is removed (namespace $namespace is being deleted)" >&2
fi
