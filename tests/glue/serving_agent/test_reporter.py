"""The reporter: failure labels, retry and outage backoff, observed state, sending reports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import pytest
import structlog
from structlog.testing import capture_logs

from glue.artifacts.errors import (
    ArtifactNotFound,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageUnavailable,
)
from glue.model_registry.client import RegistryClient
from glue.model_registry.schemas import (
    ModelCreate,
    ObservedModel,
    PodStatusReport,
    ServiceCreate,
)
from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.reporter import (
    AGENT_NAME,
    MAX_ERROR_CHARS,
    Reporter,
    backoff_delay,
    failure_reason,
)
from glue.triton.layout import LayoutError
from glue.triton.repository import TritonLoadError
from tests.glue.serving_agent.support import POD, SERVICE, FakeClock, desired, row
from tests.support.registry import RegistryServer

#: The reporter's logger in these tests; ``events`` keeps its lines (the registry logs too).
LOG = structlog.get_logger("test", origin="reporter")  # lazy: bound at each call


def events(logs: Iterable[Mapping[str, object]]) -> list[object]:
    """Events the reporter logged, in order."""
    return [e["event"] for e in logs if e.get("origin") == "reporter"]


@pytest.mark.parametrize(
    ("exc", "label"),
    [
        (ChecksumMismatch("x"), "checksum_mismatch"),
        (ArtifactNotFound("x"), "artifact_not_found"),
        (StorageUnavailable("x"), "storage_unavailable"),
        (InvalidArtifactURI("x"), "invalid_uri"),
        (LayoutError("x", field="."), "layout"),
        (TritonLoadError("m", [1], "boom"), "load_refused"),
        (TritonLoadError("m", [1], "slow", timed_out=True), "not_ready"),
        (OSError("disk full"), "io"),
    ],
)
def test_failure_reason(exc: BaseException, label: str) -> None:
    assert failure_reason(exc) == label


def make_reporter(
    registry: RegistryClient | None = None, *, clock: FakeClock | None = None
) -> Reporter:
    return Reporter(
        registry or RegistryClient("http://127.0.0.1:9"),  # never called unless given
        service=SERVICE,
        pod=POD,
        metrics=AgentMetrics(),
        log=LOG,
        poll_interval=30.0,
        backoff_initial=1.0,
        backoff_max=4.0,
        clock=clock or FakeClock(),
    )


def states(report: PodStatusReport) -> list[tuple[str, int, str, str | None]]:
    return [(m.model, m.version, m.state, m.error) for m in report.models]


# -- retries and delays ----------------------------------------------------------------------------


def test_failed_version_backoff_doubles_caps_and_resets_once_served() -> None:
    clock = FakeClock()
    reporter = make_reporter(clock=clock)
    key = ("m", 2)
    assert reporter.retry_due(key)
    delays = []
    for _ in range(5):
        assert reporter.retry_due(key)
        reporter.record_failure("m", 2, OSError("disk full"), LOG)
        assert not reporter.retry_due(key)
        delays.append(reporter.recovered())  # the next reconcile comes when the retry is due
        clock.now += delays[-1]
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    labels = {"model": "m", "reason": "io"}
    assert reporter.metrics.value("kubeai_agent_load_failures_total", labels) == 5
    assert reporter.failed() == {key: "io: disk full"}

    reporter.clear_failure(key)  # served now
    assert reporter.retry_due(key) and reporter.failed() == {}
    assert reporter.recovered() == 30.0  # back to polling
    reporter.record_failure("m", 2, OSError("again"), LOG)
    assert reporter.recovered() == 1.0  # a new failure starts from backoff_initial


def test_next_reconcile_is_never_sooner_than_10_ms() -> None:
    clock = FakeClock()
    reporter = make_reporter(clock=clock)
    reporter.record_failure("m", 1, OSError("x"), LOG)
    clock.now += 10  # the retry is overdue
    assert reporter.recovered() == 0.01


def test_outage_backoff_doubles_caps_and_resets_on_recovery() -> None:
    reporter = make_reporter()
    assert [reporter.outage() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    assert reporter.recovered() == 30.0
    assert reporter.outage() == 1.0


def test_failures_of_versions_no_longer_desired_are_forgotten() -> None:
    reporter = make_reporter()
    reporter.record_failure("a", 1, OSError("x"), LOG)
    reporter.record_failure("b", 1, OSError("y"), LOG)
    reporter.keep_failures([("a", 1), ("b", 2)])
    assert reporter.failed() == {("a", 1): "io: x"}


@pytest.mark.parametrize(
    ("initial", "maximum", "expected"),
    [(1.0, 60.0, [1.0, 2.0, 4.0, 8.0]), (0.2, 0.5, [0.2, 0.4, 0.5, 0.5]), (3.0, 3.0, [3.0] * 4)],
)
def test_backoff_delay(initial: float, maximum: float, expected: list[float]) -> None:
    assert [backoff_delay(n, initial, maximum) for n in (1, 2, 3, 4)] == expected
    assert backoff_delay(0, initial, maximum) == expected[0]


# -- the observed state ----------------------------------------------------------------------------


def test_observed_state_from_the_index_and_failures() -> None:
    reporter = make_reporter()
    reporter.record_failure("b", 5, ChecksumMismatch("1/k.txt: sha256 differs"), LOG)
    index = [
        row("a", 1, "UNLOADING"),  # the previous version leaving: shown while it goes
        row("a", 2, "READY"),
        row("b", 4, "READY"),  # still served while 5 failed
        row("c", 1, "UNAVAILABLE", "load failed: boom"),
        row("d", 3, "UNAVAILABLE", "unloaded"),  # unloaded on purpose: not an error
        row("gone", 1, "UNLOADING"),  # not desired and leaving: not reported
        row("old", 2, "READY"),  # not desired but still loaded: reported
        row("Not_A_Model", 1, "READY"),  # not a registry model name
        row("never", None, ""),  # known, never loaded
    ]
    report = reporter.observe(desired(("a", 2), ("b", 5), ("c", 1), ("d", 3)), index)
    assert states(report) == [
        ("a", 1, "UNLOADING", None),
        ("a", 2, "READY", None),
        ("b", 4, "READY", None),
        ("b", 5, "FAILED", "checksum_mismatch: 1/k.txt: sha256 differs"),
        ("c", 1, "UNAVAILABLE", "load failed: boom"),
        ("old", 2, "READY", None),
    ]
    assert report.agent == AGENT_NAME
    assert reporter.last_report is report
    served = {
        m: reporter.metrics.value("kubeai_agent_served_version", {"model": m}) for m in "abcd"
    }
    assert served == {"a": 2, "b": 4, "c": 0, "d": 0}


def test_a_served_version_wins_over_its_recorded_failure_and_errors_are_cut() -> None:
    reporter = make_reporter()
    reporter.record_failure("a", 1, OSError("x" * 5000), LOG)
    reporter.record_failure("b", 1, OSError("y"), LOG)
    report = reporter.observe(desired(("a", 1), ("b", 1)), [row("b", 1, "READY")])
    (failed, served) = report.models
    assert (failed.model, failed.state) == ("a", "FAILED")
    assert failed.error is not None and len(failed.error) == MAX_ERROR_CHARS
    assert (served.model, served.state) == ("b", "READY")


def test_unavailable_report_names_every_desired_version() -> None:
    reporter = make_reporter()
    report = reporter.unavailable(
        desired(("a", 1), ("b", 2)), "tritonserver unreachable: " + "z" * 5000
    )
    assert [(m.model, m.version, m.state) for m in report.models] == [
        ("a", 1, "UNAVAILABLE"),
        ("b", 2, "UNAVAILABLE"),
    ]
    assert all(len(m.error or "") == MAX_ERROR_CHARS for m in report.models)
    assert reporter.last_report is report


def test_error_text_with_control_characters_is_escaped_so_the_registry_accepts_it() -> None:
    reporter = make_reporter()
    report = reporter.unavailable(desired(("a", 1)), "load failed\r\x1b[2J: bad\ttab")
    (model,) = report.models
    assert model.error == "load failed\\x0d\\x1b[2J: bad\ttab"
    # The report validates against the registry's schema (no control characters but \n, \t).
    PodStatusReport.model_validate(report.model_dump())


# -- talking to the registry (a real one) ---------------------------------------------------------


@pytest.fixture
def client(registry: RegistryServer) -> Iterator[RegistryClient]:
    with RegistryClient(registry.url, team="ml", timeout=30) as http:
        http.create_service(ServiceCreate(name=SERVICE))
        yield http


def pods(client: RegistryClient) -> set[str]:
    return {o.pod for o in client.get_service(SERVICE).observed}


def test_report_kept_while_the_registry_is_down_and_sent_first_when_back(
    registry: RegistryServer, client: RegistryClient
) -> None:
    client.create_model(ModelCreate(name="a", team="ml"))
    reporter = make_reporter(client)
    report = PodStatusReport(
        models=[ObservedModel(model="a", version=1, state="FAILED", error="x")], agent=AGENT_NAME
    )
    assert reporter.send(report) is True and reporter.unreported is None
    assert pods(client) == {POD}

    registry.stop()
    later = PodStatusReport(models=[], agent=AGENT_NAME)
    assert reporter.send(later) is False
    assert reporter.unreported is later
    assert (
        reporter.metrics.value("kubeai_agent_registry_errors_total", {"operation": "report"}) == 1
    )
    reporter.send_pending()  # still down: kept
    assert reporter.unreported is later

    registry.start()
    reporter.send_pending()
    assert reporter.unreported is None
    assert client.get_service(SERVICE).observed == []  # the empty report replaced the first


def test_refused_report_is_dropped_not_retried(client: RegistryClient) -> None:
    reporter = make_reporter(client)
    twice = ObservedModel(model="a", version=1, state="READY")
    with capture_logs() as logs:
        # Built without validation (the schema refuses it too): the registry answers 422.
        assert reporter.send(PodStatusReport.model_construct(models=[twice, twice])) is False
    assert reporter.unreported is None  # sending it again would not help
    assert events(logs) == ["registry_report_refused"]
    assert (
        reporter.metrics.value("kubeai_agent_registry_errors_total", {"operation": "report"}) == 1
    )


def test_forget_pod_is_best_effort(registry: RegistryServer, client: RegistryClient) -> None:
    reporter = make_reporter(client)
    assert reporter.send(PodStatusReport(models=[]))
    registry.stop()
    assert reporter.send(PodStatusReport(models=[])) is False
    assert reporter.unreported is not None
    with capture_logs() as logs:
        assert reporter.forget_pod() is False
    assert reporter.unreported is None  # a stopping pod drops what it could not send
    assert events(logs) == ["registry_forget_failed"]
    assert (
        reporter.metrics.value("kubeai_agent_registry_errors_total", {"operation": "forget"}) == 1
    )
    registry.start()
    with capture_logs() as logs:
        assert reporter.forget_pod() is True
    assert events(logs) == ["pod_forgotten"]
