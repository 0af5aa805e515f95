#!/usr/bin/env python3
"""Checks the deployment files against what the tests build (run by scripts/test.sh).

- every YAML under deploy/ and docker/ parses, every JSON too;
- kustomizations name files that exist;
- the Kubernetes Deployment carries probes on /healthz and /readyz, resources, a preStop sleep, a
  termination grace period longer than preStop + drain_delay + drain_timeout (+5 s for the last
  error events), non-root and a read-only root filesystem; the base has the Service, ConfigMap,
  HPA, PDB, NetworkPolicy and ServiceMonitor;
- every deepgate config in deploy/ and docker/ passes `deepgate --check-config`;
- the Dockerfile builds with the same scripts CI runs, runs as a non-root user, has a HEALTHCHECK
  on /healthz, and its runtime stage installs every shared library the built binaries need;
  .dockerignore keeps local build trees, node_modules and the demo key out of the build context;
- compose.yaml has the replicas, nginx, Redis, Prometheus, Grafana and the offline mock profile;
- the systemd unit gives the drain its time; haproxy.cfg passes `haproxy -c`.

Usage: scripts/check-deploy.py BUILD_DIR
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else root / "build").resolve()
failures = []


def fail(what):
    failures.append(what)


def check(cond, what):
    if not cond:
        fail(what)
    return cond


def rel(p):
    return str(pathlib.Path(p).relative_to(root))


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text}")
    n, unit = int(m.group(1)), m.group(2) or "ms"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


# 1. Everything parses.
docs = {}
for p in sorted(list((root / "deploy").rglob("*")) + list((root / "docker").rglob("*"))):
    if p.suffix in (".yaml", ".yml"):
        try:
            docs[p] = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
        except yaml.YAMLError as e:
            fail(f"{rel(p)}: does not parse: {e}")
    elif p.suffix == ".json":
        try:
            json.loads(p.read_text())
        except ValueError as e:
            fail(f"{rel(p)}: does not parse: {e}")

# 2. Kustomizations name files that exist.
k8s = root / "deploy" / "kubernetes"
for p, ds in docs.items():
    if p.name != "kustomization.yaml":
        continue
    k = ds[0]
    named = list(k.get("resources", [])) + [x["path"] for x in k.get("patches", []) if "path" in x]
    for g in k.get("configMapGenerator", []):
        named += g.get("files", [])
    for n in named:
        check((p.parent / n).exists(), f"{rel(p)}: names {n}, which does not exist")

# 3. The Kubernetes objects.
base = k8s / "base"
objects = [d for p, ds in docs.items() if p.parent == base and p.name != "kustomization.yaml" for d in ds]
kinds = {o.get("kind") for o in objects}
for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "Secret"):
    check(kind in kinds, f"deploy/kubernetes/base: no {kind}")
check(any(g.get("name") == "deepgate-config" for g in docs[base / "kustomization.yaml"][0].get("configMapGenerator", [])),
      "deploy/kubernetes/base: no deepgate-config ConfigMap")


def drain_seconds(config_path):
    server = yaml.safe_load(config_path.read_text()).get("server", {})
    return seconds(server.get("drain_delay", "0s")) + seconds(server.get("drain_timeout", "30s")) + 5


deployment = next(o for o in objects if o.get("kind") == "Deployment")
pod = deployment["spec"]["template"]["spec"]
c = next(x for x in pod["containers"] if x["name"] == "deepgate")
check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "Deployment: liveness probe is not /healthz")
check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "Deployment: readiness probe is not /readyz")
check(c.get("resources", {}).get("requests") and c.get("resources", {}).get("limits"), "Deployment: resources missing")
pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
pre_stop = float(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else 0
check(pre_stop > 0, "Deployment: no preStop sleep")
sec = pod.get("securityContext", {})
check(sec.get("runAsNonRoot") is True and sec.get("runAsUser", 0) != 0, "Deployment: not non-root")
check(c.get("securityContext", {}).get("readOnlyRootFilesystem") is True, "Deployment: root filesystem not read-only")
check(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False, "Deployment: privilege escalation allowed")
grace = pod.get("terminationGracePeriodSeconds", 30)
for cfg in [base / "deepgate.yaml"] + sorted((k8s / "overlays").glob("*/deepgate.yaml")):
    need = pre_stop + drain_seconds(cfg)
    check(grace > need, f"Deployment: terminationGracePeriodSeconds {grace} is not above preStop + drain ({need:g} s, {rel(cfg)})")

# 4. Every deepgate config passes --check-config (with placeholder secrets in the environment).
env = dict(os.environ, DEEPSEEK_API_KEY="sk-placeholder", DEEPGATE_ADMIN_TOKEN="placeholder-token-0123456789",
           REDIS_URL="redis://redis:6379")
configs = [base / "deepgate.yaml"] + sorted((k8s / "overlays").glob("*/deepgate.yaml")) + [root / "docker" / "deepgate.compose.yaml"]
for cfg in configs:
    r = subprocess.run([str(build / "deepgate"), "--check-config", str(cfg)], env=env, capture_output=True, text=True)
    check(r.returncode == 0, f"{rel(cfg)}: deepgate --check-config failed: {r.stdout}{r.stderr}")

# 5. The Dockerfile.
dockerfile = (root / "docker" / "Dockerfile").read_text()
runs = [l for l in dockerfile.splitlines() if l.startswith("RUN ")]
check(any("./scripts/install-deps.sh" in l for l in runs), "Dockerfile: does not run scripts/install-deps.sh")
check(any("./scripts/build.sh" in l for l in runs), "Dockerfile: does not run scripts/build.sh")
check(re.search(r"^FROM debian:12", dockerfile, re.M), "Dockerfile: not on Debian 12")
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
check(users and all(u not in ("root", "0") for u in users), "Dockerfile: runs as root")
check(re.search(r"^HEALTHCHECK .*?/healthz", dockerfile, re.M), "Dockerfile: no HEALTHCHECK on /healthz")
check("target gateway" in dockerfile or "AS gateway" in dockerfile, "Dockerfile: no gateway target")
check("AS mock" in dockerfile, "Dockerfile: no mock target")
# `COPY . .` must not carry a local build tree (its CMake cache names another path) or the demo key.
ignore_file = root / ".dockerignore"
ignored = set(ignore_file.read_text().split()) if check(ignore_file.exists(), ".dockerignore: missing") else set()
for pattern in ("build*/", ".deepgate/", "**/node_modules/"):
    check(pattern in ignored, f".dockerignore: does not exclude {pattern}")
runtime = re.search(r"FROM debian:12-slim AS runtime-base\n(.*?)(?:\nFROM |\Z)", dockerfile, re.S)
installed = set(re.findall(r"\b(lib[\w.+-]+)", runtime.group(1))) if check(runtime, "Dockerfile: no runtime-base stage") else set()
in_base_image = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
for binary in ("deepgate", "deepgate-mock"):
    out = subprocess.run(["ldd", str(build / binary)], capture_output=True, text=True).stdout
    for lib in re.findall(r"=> (\S+) \(", out):
        real = os.path.realpath(lib)
        owner = ""
        for candidate in (real, real.replace("/usr/lib/", "/lib/", 1)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if owner and owner not in in_base_image:
            check(owner in installed, f"Dockerfile: the runtime stage lacks {owner} ({lib}, needed by {binary})")

# 6. Compose.
compose = docs[root / "docker" / "compose.yaml"][0]
services = compose.get("services", {})
for name in ("deepgate-1", "deepgate-2", "nginx", "redis", "prometheus", "grafana", "mock"):
    check(name in services, f"compose.yaml: no {name} service")
check("offline" in services.get("mock", {}).get("profiles", []), "compose.yaml: the mock is not in the offline profile")
for name in ("deepgate-1", "deepgate-2"):
    s = services.get(name, {})
    check(s.get("build", {}).get("dockerfile") == "docker/Dockerfile", f"compose.yaml: {name} is not built from docker/Dockerfile")
    grace = seconds(s.get("stop_grace_period", "10s"))
    need = drain_seconds(root / "docker" / "deepgate.compose.yaml")
    check(grace >= need, f"compose.yaml: {name} stop_grace_period {grace:g} s is below the drain ({need:g} s)")
for name, s in services.items():
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            check((root / "docker" / src).exists(), f"compose.yaml: {name} mounts {src}, which does not exist")

# 7. systemd and HAProxy.
unit = (root / "deploy" / "systemd" / "deepgate.service").read_text()
stop = re.search(r"^TimeoutStopSec=(\S+)", unit, re.M)
check(stop and seconds(stop.group(1)) > 35, "deepgate.service: TimeoutStopSec does not cover the default drain (30 s + 5 s)")
for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM"):
    check(option in unit, f"deepgate.service: no {option}")
haproxy_cfg = root / "deploy" / "haproxy" / "haproxy.cfg"
r = subprocess.run(["haproxy", "-c", "-f", str(haproxy_cfg)], capture_output=True, text=True,
                   env=dict(os.environ, DEEPGATE_REPLICA_1="127.0.0.1:18080", DEEPGATE_REPLICA_2="127.0.0.1:18081",
                            HAPROXY_PORT="18090"))
check(r.returncode == 0, f"haproxy.cfg: haproxy -c failed: {r.stdout}{r.stderr}")

if failures:
    print("deploy check FAILED:")
    for f in failures:
        print("  -", f)
    sys.exit(1)
print(f"deploy check: ok ({len(docs)} YAML files, {len(configs)} deepgate configs, Kubernetes fields, Dockerfile, compose, systemd, haproxy)")
