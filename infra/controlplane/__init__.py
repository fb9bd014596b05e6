"""A real Kubernetes control plane for tests and for people, built from pinned Go modules.

``components`` pins what is built (k8s.io/kubernetes, etcd, KWOK) and how it is stamped; ``gomod``
generates the k8s staging ``replace`` lines of ``tools/controlplane/kubernetes/go.mod`` from the
pinned release's own go.mod; ``build`` compiles the binaries into ``.tools/`` with a stamp so a
second build costs seconds; ``netns`` keeps every run inside a loopback-only network namespace;
``pki`` makes the serving certificate and service-account key pair; ``nodes`` turns a platform
stack's node pools into KWOK Node manifests; ``harness`` starts and stops the processes;
``install`` installs a stack into a running plane as ``pulumi up`` would.
"""
