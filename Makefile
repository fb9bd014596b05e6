# KubeAI platform: every target creates what it needs (virtual environments, tools) itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BENCH_VENV := .venv-bench
PY := $(VENV)/bin/python
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help venv venv-demo demo test lint typecheck unit bench clean tools e2e

help:
	@echo "make demo   - the model lifecycle end to end on real data (train, register, serve, hot swap)"
	@echo "make test   - the whole test suite (lint, types, unit, integration, the demo itself)"
	@echo "make bench  - benchmarks (own virtual environment), results in .kubeai/bench/"
	@echo "make tools  - pinned helm/kubectl, upstream CRDs/charts/manifests, control plane binaries, Pulumi engine"
	@echo "make engine - the Pulumi CLI and Kubernetes provider built from pinned Go modules (part of make tools)"
	@echo "make test-cluster - the tests on a real control plane (loopback-only network namespace)"

# Virtual environments: tools/venv.py creates the venv, installs uv (pinned in
# constraints/installer.txt) and then the project with the extras a target needs, printing each
# step. `make demo` installs only what the demo runs (glue, demo: about 20 s on a fast package
# index); `make test` (any target needing `venv`) adds the rest to the same .venv.
INSTALL_INPUTS := pyproject.toml constraints/serving.txt constraints/engine.txt \
	constraints/installer.txt tools/venv.py
DEMO_EXTRAS := glue,demo
ALL_EXTRAS := glue,demo,dev,infra,aws,gcp,alicloud

$(VENV)/.stamp-demo: $(INSTALL_INPUTS)
	@$(PYTHON) tools/venv.py $(VENV) --extras $(DEMO_EXTRAS) --stamp stamp-demo

$(VENV)/.stamp: $(INSTALL_INPUTS)
	@$(PYTHON) tools/venv.py $(VENV) --extras $(ALL_EXTRAS) --stamp stamp

venv: $(VENV)/.stamp

venv-demo: $(VENV)/.stamp-demo

demo: venv-demo
	$(VENV)/bin/kubeai demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy glue infra

# helm/kubectl binaries and the pinned upstream CRDs, charts and manifests (sha256-verified;
# KUBEAI_UPSTREAM_MIRROR=<folder with crds/ and charts/> is used before the network), then the
# control plane binaries and the Pulumi engine built from pinned Go modules.
tools: venv
	$(PY) tools/fetch_tools.py --dest .tools
	@$(MAKE) --no-print-directory controlplane
	@$(MAKE) --no-print-directory engine

# Everything but the cluster tests in this process; then the cluster tests in their own
# loopback-only network namespace (test-cluster).
test: tools lint typecheck
	$(PY) -m pytest -p no:cacheprovider --ignore=tests/cluster --ignore=tests/engine
	@$(MAKE) --no-print-directory test-cluster
	@$(MAKE) --no-print-directory test-engine

$(BENCH_VENV)/.stamp: $(INSTALL_INPUTS) benchmarks/requirements.txt
	@$(PYTHON) tools/venv.py $(BENCH_VENV) --extras $(ALL_EXTRAS) \
		--requirements benchmarks/requirements.txt --stamp stamp

bench: $(BENCH_VENV)/.stamp
	$(BENCH_VENV)/bin/python -m benchmarks.run

e2e: venv tools
	$(PY) -m pytest tests/e2e -p no:cacheprovider

clean:
	rm -rf $(VENV) $(BENCH_VENV) .kubeai .mypy_cache .ruff_cache

.PHONY: controlplane engine test-cluster test-engine

# The control plane binaries (kube-apiserver, kube-controller-manager, kube-scheduler v1.35.4,
# etcd v3.6.16, KWOK v0.7.0) built from tools/controlplane/*/go.mod into .tools/controlplane-*/.
# Cold: ~30 min on 2 busy cores; with the stamp and Go's build cache a rerun takes seconds.
controlplane: venv
	$(PY) -m infra.controlplane.build --dest .tools

# The Pulumi engine: the CLI v3.274.1 and the Kubernetes provider v4.25.0, built from
# tools/engine/*/go.mod into .tools/engine-*/ one at a time (the provider peaks at ~4 GB RSS).
# Cold on 2 busy cores: CLI ~570 s, provider ~790 s (4.1 GB peak RSS). With the stamp an
# up-to-date rerun takes well under a second; a rebuild on a warm Go build cache relinks both
# in ~20 s.
engine: venv
	$(PY) -m infra.engine.build --dest .tools

# The cluster tests, run inside a fresh loopback-only network namespace (needs root or
# CAP_SYS_ADMIN); no packet can leave loopback. CI=true makes missing prerequisites fail.
test-cluster: controlplane
	unshare --net -- sh -c 'ip link set lo up && exec "$$@"' sh \
		$(PY) -m pytest tests/cluster -p no:cacheprovider

# The engine tests: the Pulumi engine (make engine) runs `up`, `preview` and `destroy` of the
# local platform stack and two team stacks against a control plane, in a loopback-only network
# namespace like test-cluster.
test-engine: controlplane engine
	unshare --net -- sh -c 'ip link set lo up && exec "$$@"' sh \
		$(PY) -m pytest tests/engine -p no:cacheprovider
