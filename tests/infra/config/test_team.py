"""infra/config/team.py: queue and quota ordering, GPU tolerations, checks against the platform."""

from __future__ import annotations

import pytest

from infra.config import (
    ConfigError,
    PlatformConfig,
    TeamConfig,
    parse_config,
    platform_outputs,
)
from infra.config.team import DATASET_SECRET, RESERVED_NAMESPACES, RESERVED_PREFIXES
from tests.infra import factories
from tests.infra.factories import config_problems as _problems
from tests.infra.factories import stack_values as _values


def test_queue_capability_above_resource_quota_is_refused() -> None:
    values = _values("team-cv-prod")
    values["queue"]["capability"] = {"cpu": "64", "memory": "256Gi", "gpus": 8}
    values["queue"].pop("guarantee")
    values["quota"] = {"gpus": 4, "cpu": "64", "memory": "256Gi"}
    values["inferenceServices"] = []
    [(path, message)] = _problems(values)
    assert path == "kubeai:quota" and "gpus 8 > 4" in message and "gangs" in message


def test_queue_guarantee_and_deserved_bounded_by_capability_and_weight() -> None:
    values = _values("team-cv-prod")
    values["queue"]["guarantee"] = {"gpus": 32}
    [(path, message)] = _problems(values)
    assert path == "kubeai:queue" and "guarantee exceeds capability" in message
    values = _values("team-cv-prod")
    values["queue"]["weight"] = 0
    [(path, message)] = _problems(values)
    assert path == "kubeai:queue.weight" and "greater than or equal to 1" in message


def test_team_asking_more_gpus_than_platform_pools_hold() -> None:
    team = parse_config(_values("team-risk-prod"))
    platform = parse_config(_values("prod-gke"))
    assert isinstance(team, TeamConfig) and isinstance(platform, PlatformConfig)
    team.check_against_platform(platform_outputs(platform))  # 2 <= 24: fine
    values = _values("team-risk-prod")
    values["quota"]["gpus"] = 500
    greedy = parse_config(values)
    assert isinstance(greedy, TeamConfig)
    with pytest.raises(ConfigError) as caught:
        greedy.check_against_platform(platform_outputs(platform))
    [(path, message)] = caught.value.problems
    assert path == "kubeai:quota.gpus" and "500 GPUs" in message and "at most 24" in message


def test_gpu_inference_service_must_tolerate_gpu_taint() -> None:
    values = _values("team-cv-prod")
    values["inferenceServices"][0]["tolerations"] = []
    [(path, message)] = _problems(values)
    assert path == "kubeai:inferenceServices[0].tolerations" and "GPU pool taint" in message


@pytest.mark.parametrize(
    "name", ["kube-system", "kube-public", "kube-node-lease", "default", "argo", "kubeai-system"]
)
def test_a_team_named_after_a_reserved_namespace_is_refused(name: str) -> None:
    """Server-side apply adopts an existing Namespace: a team named ``kube-system`` would have
    taken it over and deleted it with the team stack."""
    problems = _problems(team_config_values(name))
    assert any(key == "kubeai:team.name" and repr(name) in text for key, text in problems), problems


def team_config_values(name: str) -> dict[str, object]:
    values = _values("team-vision-local")
    values["team"] = {"name": name}
    return values


@pytest.mark.parametrize(
    ("provider", "gpu"),
    [
        (provider, gpu)
        for provider in ("existing", "eks", "gke", "ack")
        for gpu in ("auto", "gpuOperator")
        if (provider, gpu) != ("gke", "gpuOperator")  # refused: kubeai:addons.gpu.mode
    ],
)
def test_every_namespace_the_platform_creates_is_reserved(
    platform_run, provider: str, gpu: str
) -> None:
    run = platform_run(provider, addons={"gpu": {"mode": gpu}})
    names = {r.inputs["metadata"]["name"] for r in run.of_type("kubernetes:core/v1:Namespace")}
    assert names
    for name in names:
        assert name in RESERVED_NAMESPACES or name.startswith(RESERVED_PREFIXES), name


# -- the Queue vs Volcano v1.15.1: the platform's queue plugin and the queue admission ----------


def _outputs(queue_policy: str | None) -> object:
    """prod-eks's outputs with ``kubeai:addons.volcano.queuePolicy`` (None: left at default)."""
    values = _values("prod-eks")
    if queue_policy is not None:
        values.setdefault("addons", {}).setdefault("volcano", {})["queuePolicy"] = queue_policy
    platform = parse_config(values)
    assert isinstance(platform, PlatformConfig)
    return platform_outputs(platform)


def _team(**queue: object) -> TeamConfig:
    values = _values("team-search-prod")
    values["queue"] = {"capability": {"cpu": "128", "memory": "512Gi", "gpus": 8}, **queue}
    config = parse_config(values)
    assert isinstance(config, TeamConfig)
    return config


def _cross_stack(config: TeamConfig, queue_policy: str | None) -> list[tuple[str, str]]:
    try:
        config.check_against_platform(_outputs(queue_policy))  # type: ignore[arg-type]
    except ConfigError as error:
        return error.problems
    return []


@pytest.mark.parametrize("queue_policy", [None, "proportion"])
def test_deserved_is_refused_where_the_proportion_plugin_never_reads_it(
    queue_policy: str | None,
) -> None:
    """Volcano v1.15.1's proportion plugin derives a queue's deserved from weights
    (pkg/scheduler/plugins/proportion/proportion.go); ``spec.deserved`` is read only by the
    capacity plugin, so a deserved we rendered under proportion would mean nothing."""
    config = _team(weight=2, deserved={"cpu": "64", "gpus": 4})
    [(path, message)] = _cross_stack(config, queue_policy)
    assert path == "kubeai:queue.deserved"
    assert "'proportion'" in message and "never reads a Queue's deserved" in message
    assert "kubeai:addons.volcano.queuePolicy" in message and "'prod-eks'" in message
    assert _cross_stack(_team(weight=2, guarantee={"gpus": 1}), queue_policy) == []


def test_weight_is_refused_where_the_capacity_plugin_never_reads_it() -> None:
    config = _team(weight=3, deserved={"cpu": "64", "gpus": 4})
    [(path, message)] = _cross_stack(config, "capacity")
    assert path == "kubeai:queue.weight"
    assert "'capacity'" in message and "never reads a Queue's weight" in message
    assert _cross_stack(_team(weight=1, deserved={"cpu": "64", "gpus": 4}), "capacity") == []
    assert _cross_stack(_team(deserved={"gpus": 4}, guarantee={"gpus": 2}), "capacity") == []


def test_capacity_guarantee_without_deserved_is_refused_as_the_queue_webhook_would() -> None:
    """validateResourceQuantityOfQueue (pkg/webhooks/admission/queues/validate, v1.15.1): every
    guarantee resource needs deserved[r] >= guarantee[r]. The webhook cannot run here (no
    webhook server on the test control plane); the rule is mirrored in config."""
    [(path, message)] = _cross_stack(_team(guarantee={"gpus": 1}), "capacity")
    assert path == "kubeai:queue.deserved"
    assert "webhook" in message and "gpus 1 but deserved sets no gpus" in message


def test_under_proportion_a_deserved_is_refused_first_for_being_unread() -> None:
    """team-cv-prod with a deserved below its guarantee: the first (and only) queue problem is
    that proportion never reads deserved, not an invitation to raise it."""
    config = _team(deserved={"cpu": "64"}, guarantee={"cpu": "32", "memory": "128Gi", "gpus": 2})
    [(path, message)] = _cross_stack(config, "proportion")
    assert path == "kubeai:queue.deserved" and "never reads a Queue's deserved" in message
    assert "None" not in message


# Each a deserved Volcano v1.15.1's queue webhook refuses; only the capacity plugin reads it.
REFUSED_DESERVED = [
    pytest.param({"deserved": {"gpus": 16}}, "deserved above capability: gpus 16 > 8", id=">cap"),
    pytest.param(
        {"deserved": {"gpus": 1}, "guarantee": {"gpus": 2}},
        "guarantee above deserved (or without deserved) for any resource: gpus 2 > 1",
        id="guarantee>deserved",
    ),
    pytest.param(
        {"deserved": {"cpu": "4"}, "guarantee": {"gpus": 1}},
        "gpus 1 but deserved sets no gpus",
        id="guarantee-resource-not-deserved",
    ),
]


@pytest.mark.parametrize(("queue", "text"), REFUSED_DESERVED)
def test_deserved_ordering_is_checked_where_the_capacity_plugin_reads_it(
    queue: dict[str, object], text: str
) -> None:
    [(path, message)] = _cross_stack(_team(**queue), "capacity")
    assert path == "kubeai:queue.deserved" and text in message


def test_the_queue_policy_reaches_the_team_through_the_platform_outputs() -> None:
    assert _outputs(None).queue_policy == "proportion"  # type: ignore[attr-defined]
    assert _outputs("capacity").queue_policy == "capacity"  # type: ignore[attr-defined]


# Each a Queue Volcano v1.15.1 would refuse or read otherwise than written (the webhook's rules
# in pkg/webhooks/admission/queues/validate/validate_queue.go, the CRD's schema in
# scheduling.volcano.sh_queues.yaml, the plugins' reading of capability): config refuses it with
# the key path. tests/cluster/test_queues.py applies the CRD-level ones to a real apiserver.
REFUSED_QUEUES = [
    pytest.param(
        {"guarantee": {"cpu": "4", "gpus": 1}, "capability": {"gpus": 8}},
        "kubeai:queue",
        "guarantee exceeds capability: cpu 4 but capability sets no cpu",
        id="guarantee-resource-not-capped",
    ),
    pytest.param({"weight": 0}, "kubeai:queue.weight", "greater than or equal to 1", id="weight-0"),
    pytest.param(
        {"weight": 65_536}, "kubeai:queue.weight", "less than or equal to 65535", id="weight-65536"
    ),
    pytest.param(
        {"priority": -1},
        "kubeai:queue.priority",
        "greater than or equal to 0",
        id="priority-negative",
    ),
    pytest.param(
        {"capability": {"cpu": "-1"}},
        "kubeai:queue.capability.cpu",
        "not a Kubernetes quantity",
        id="negative-cpu",
    ),
    pytest.param(
        {"capability": {"gpus": -1}},
        "kubeai:queue.capability.gpus",
        "greater than or equal to 0",
        id="negative-gpus",
    ),
    pytest.param(
        {"capability": {"cpu": " 4"}},
        "kubeai:queue.capability",
        "no quantity the Queue CRD admits",
        id="cpu-with-space",
    ),
    pytest.param(
        {"guarantee": {"memory": "1Gi "}},
        "kubeai:queue.guarantee",
        "no quantity the Queue CRD admits",
        id="memory-trailing-space",
    ),
    pytest.param(
        {"capability": {}}, "kubeai:queue.capability", "names no resource", id="empty-capability"
    ),
    pytest.param(
        {"capability": {"cpu": "0", "gpus": 1}},
        "kubeai:queue.capability",
        "cpu is 0",
        id="zero-cpu-means-unlimited",
    ),
    pytest.param(
        {"capability": {"memory": "0Gi", "gpus": 1}},
        "kubeai:queue.capability",
        "memory is 0",
        id="zero-memory-means-unlimited",
    ),
]


@pytest.mark.parametrize(("queue", "path", "text"), REFUSED_QUEUES)
def test_queues_volcano_would_refuse_or_misread_are_config_errors(
    queue: dict[str, object], path: str, text: str
) -> None:
    values = _values("team-search-prod")
    values["queue"] = {**values["queue"], **queue}
    values["quota"] = {"gpus": 8, "cpu": "128", "memory": "512Gi"}
    problems = _problems(values)
    assert any(p == path and text in m for p, m in problems), problems


#: Edge values config accepts, each admitted by the CRD (tests/cluster/test_queues.py) and the
#: webhook's rules (guarantee <= deserved <= capability, non-negative, integer GPUs).
ACCEPTED_QUEUES = [
    {"weight": 1, "priority": 0, "capability": {"gpus": 0}},
    {"weight": 65_535, "priority": 1_000_000, "capability": {"cpu": "1e3", "memory": "1.5Ti"}},
    {"capability": {"cpu": "500m", "memory": ".5Gi", "gpus": 8}, "guarantee": {"cpu": "500m"}},
    {"capability": {"cpu": "0.001", "gpus": 1}, "reclaimable": False},
]


@pytest.mark.parametrize("queue", ACCEPTED_QUEUES)
def test_edge_queues_are_accepted(queue: dict[str, object]) -> None:
    values = _values("team-search-prod")
    values["queue"] = queue
    values["quota"] = {"gpus": 8, "cpu": "1000", "memory": "2Ti"}
    assert isinstance(parse_config(values), TeamConfig)


def _mount(**extra: object) -> dict[str, object]:
    return {"name": "train", "mountPoint": "oss://kubeai-data/imagenet/", **extra}


def _dataset_problems(**mount: object) -> list[tuple[str, str]]:
    values = factories.team_values(
        datasets=[{"name": "imagenet", "size": "200Gi", "mounts": [_mount(**mount)]}]
    )
    return _problems(values)


ENCRYPTED = [
    {
        "name": "fs.oss.accessKeyId",
        "valueFrom": {"secretKeyRef": {"name": DATASET_SECRET, "key": "access-key-id"}},
    }
]


def test_dataset_mount_options_and_encrypt_options() -> None:
    config = factories.team_config(
        datasets=[
            {
                "name": "imagenet",
                "size": "200Gi",
                "mounts": [
                    _mount(
                        options={"fs.oss.endpoint": "oss-cn-hangzhou-internal.aliyuncs.com"},
                        encryptOptions=ENCRYPTED,
                    )
                ],
            }
        ]
    )
    mount = config.datasets[0].mounts[0]
    assert mount.options == {"fs.oss.endpoint": "oss-cn-hangzhou-internal.aliyuncs.com"}
    assert mount.encrypt_options[0].value_from.secret_key_ref.key == "access-key-id"
    assert config.dataset_secrets == {"datasetAccessKeyId", "datasetAccessKeySecret"}
    assert factories.team_config().dataset_secrets == frozenset()


@pytest.mark.parametrize(
    "option",
    [
        "fs.oss.accessKeyId",
        "fs.oss.accessKeySecret",
        "aws.secretKey",
        "fs.s3.token",
        "fs.oss.sk.value",  # quoted input of a trial: accepted before
        "fs.oss.ak",
    ],
)
def test_credentials_in_plain_options_are_refused(option: str) -> None:
    [(path, message)] = _dataset_problems(options={option: "AKIA..."})
    assert path == "kubeai:datasets[0].mounts[0].options"
    assert option in message and "encryptOptions" in message


@pytest.mark.parametrize(
    "url", ["redis://:hunter2@redis.cache:6379/1", "mysql://juice:pw@tcp(db:3306)/juicefs"]
)
def test_a_password_inside_a_url_option_is_refused(url: str) -> None:
    """Quoted input of a trial: JuiceFS ``metaurl: redis://:hunter2@...`` was accepted."""
    [(path, message)] = _dataset_problems(options={"metaurl": url})
    assert path == "kubeai:datasets[0].mounts[0].options"
    assert "user:password@" in message and "hunter2" not in message and "pw" not in message


def test_an_option_is_plain_or_encrypted_not_both() -> None:
    [(path, message)] = _dataset_problems(encryptOptions=ENCRYPTED * 2)
    assert path == "kubeai:datasets[0].mounts[0]" and "twice" in message
    endpoint = {"name": "fs.oss.endpoint", **{k: v for k, v in ENCRYPTED[0].items() if k != "name"}}
    [(path, message)] = _dataset_problems(
        options={"fs.oss.endpoint": "e"}, encryptOptions=[endpoint]
    )
    assert path == "kubeai:datasets[0].mounts[0]" and "both" in message


def test_the_dataset_secret_has_two_keys() -> None:
    wrong = [
        {
            "name": "fs.oss.accessKeyId",
            "valueFrom": {"secretKeyRef": {"name": DATASET_SECRET, "key": "id"}},
        }
    ]
    [(path, message)] = _dataset_problems(encryptOptions=wrong)
    assert path == "kubeai:datasets[0].mounts[0].encryptOptions[0].valueFrom.secretKeyRef"
    assert "access-key-id, access-key-secret" in message


def test_the_cv_example_mount_has_its_endpoint_and_credentials() -> None:
    config = parse_config(_values("team-cv-prod"))
    assert isinstance(config, TeamConfig)
    [mount] = config.datasets[0].mounts
    assert mount.options["fs.oss.endpoint"].startswith("oss-cn-hangzhou")
    assert {o.name for o in mount.encrypt_options} == {
        "fs.oss.accessKeyId",
        "fs.oss.accessKeySecret",
    }


# -- the team's name vs the namespaces of the platform's shared clients ------------------------


@pytest.mark.parametrize(
    ("network", "name", "key"),
    [
        ({}, "monitoring", "kubeai:network.monitoringNamespace"),
        ({"monitoringNamespace": "prometheus"}, "prometheus", "kubeai:network.monitoringNamespace"),
        ({"ingressNamespaces": ["ingress-nginx", "gw"]}, "gw", "kubeai:network.ingressNamespaces"),
    ],
)
def test_a_team_named_after_the_platforms_monitoring_or_ingress_namespace_is_refused(
    network: dict[str, object], name: str, key: str
) -> None:
    platform = factories.outputs_of(factories.platform_config("eks", network=network))
    with pytest.raises(ConfigError) as caught:
        factories.team_config(team={"name": name}).check_against_platform(platform)
    [(path, message)] = caught.value.problems
    assert path == "kubeai:team.name" and repr(name) in message and key in message


def test_a_team_named_monitoring_is_fine_where_prometheus_lives_elsewhere() -> None:
    platform = factories.outputs_of(
        factories.platform_config("eks", network={"monitoringNamespace": "prometheus"})
    )
    factories.team_config(team={"name": "monitoring"}).check_against_platform(platform)
