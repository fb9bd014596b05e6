"""Pods that behave as serving agents do towards the registry: ask ``desired``, then report the
versions they were told as READY. The canary goes to a share of the pods that reported, so the
tests of the split drive pods through these rounds."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.testclient import TestClient

#: Rounds after which a split that has not settled is a failure (every pod live: one round).
MAX_ROUNDS = 4


def poll(
    client: TestClient, api: str, service: str, pods: Iterable[str]
) -> dict[str, dict[str, tuple[int, str]]]:
    """One round, pod after pod: ask ``desired`` and report it READY. Returns pod -> model ->
    (version, role)."""
    told: dict[str, dict[str, tuple[int, str]]] = {}
    for pod in pods:
        r = client.get(f"{api}/services/{service}/desired", params={"pod": pod})
        assert r.status_code == 200, r.text
        models = r.json()["models"]
        told[pod] = {m["model"]: (m["version"], m["role"]) for m in models}
        report = {
            "models": [
                {"model": m["model"], "version": m["version"], "state": "READY"} for m in models
            ]
        }
        r = client.put(f"{api}/services/{service}/pods/{pod}/status", json=report)
        assert r.status_code == 200, r.text
    return told


def settle(
    client: TestClient, api: str, service: str, pods: Iterable[str]
) -> dict[str, dict[str, tuple[int, str]]]:
    """Poll rounds until a round changes nothing (at most ``MAX_ROUNDS``); the settled split."""
    pods = list(pods)
    last = poll(client, api, service, pods)
    for _ in range(MAX_ROUNDS):
        now = poll(client, api, service, pods)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the split did not settle in {MAX_ROUNDS} rounds: {last}")
