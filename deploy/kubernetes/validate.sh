#!/usr/bin/env bash
# Render the kustomize base and check it:
#  1. every object against the Kubernetes API schema of K8S_VERSION,
#     strictly (unknown fields are errors): PyPI kubernetes-validate;
#  2. the operating rules schemas cannot express (probes on the management
#     port, non-root, read-only root, no privilege escalation, no
#     capabilities, seccomp RuntimeDefault, resource requests and limits,
#     secrets only as files).
# Needs kubectl (Debian: kubernetes-client) and `pip install kubernetes-validate`.
# Exits non-zero on any error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION="${K8S_VERSION:-1.32.0}"
rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT

kubectl kustomize "$here" >"$rendered"
kubernetes-validate --strict --quiet -k "$K8S_VERSION" - <"$rendered"

python3 - "$rendered" <<'PY'
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
errors = []
kinds = {d["kind"] for d in docs}
for kind in ["Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap"]:
    if kind not in kinds:
        errors.append(f"no {kind}")
for d in docs:
    if d["kind"] == "Secret":
        errors.append(f"secret {d['metadata']['name']}: secrets are created outside git")
    if d["kind"] != "Deployment":
        continue
    name = d["metadata"]["name"]
    spec = d["spec"]
    if spec.get("replicas", 1) < 2:
        errors.append(f"{name}: fewer than 2 replicas")
    pod = spec["template"]["spec"]
    psc = pod.get("securityContext", {})
    if not psc.get("runAsNonRoot"):
        errors.append(f"{name}: pod runAsNonRoot")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append(f"{name}: seccomp RuntimeDefault")
    for c in pod.get("initContainers", []) + pod["containers"]:
        where = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{where}: allowPrivilegeEscalation false")
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{where}: readOnlyRootFilesystem")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            errors.append(f"{where}: drop ALL capabilities")
        res = c.get("resources", {})
        for part in ["requests", "limits"]:
            for r in ["cpu", "memory"]:
                if r not in res.get(part, {}):
                    errors.append(f"{where}: resources.{part}.{r}")
        for env in c.get("env", []):
            if "secretKeyRef" in env.get("valueFrom", {}):
                errors.append(f"{where}: secret {env['name']} in the environment; mount it as a file")
    main = pod["containers"][0]
    for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
        get = main.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("management", 9090):
            errors.append(f"{name}: {probe} is GET {path} on the management port")
for e in errors:
    print(f"ERROR {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
echo "deploy/kubernetes: valid for Kubernetes $K8S_VERSION"
