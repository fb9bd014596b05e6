"""infra/config/shared.py: qualified names (label and annotation keys), resource comparison."""

from __future__ import annotations

import pytest

from infra.config.shared import Resources, check_qualified_name, exceeds

#: Label/annotation keys config accepts; tests/cluster/test_identity.py shows the apiserver
#: admits each.
QUALIFIED_NAMES = [
    "x",
    "app.kubernetes.io/name",
    "example.com/Owner_Name.v2",
    "a" * 63,
    f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 61}/{'n' * 63}",  # 253-character prefix
]

#: Keys config accepts as annotation keys (the prefix may have capitals) but not as label keys;
#: tests/cluster/test_identity.py shows the apiserver does the same.
ANNOTATION_ONLY_NAMES = ["Example.com/x", "EXAMPLE.COM/Owner"]

#: (key, what the message says) config refuses as label and annotation key;
#: tests/cluster/test_identity.py shows the apiserver refuses each.
NOT_QUALIFIED_NAMES = [
    ("-bad-/x", "the prefix '-bad-' must be a DNS subdomain"),
    ("a..b/x", "the prefix 'a..b' must be a DNS subdomain"),
    (f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 62}/x", "at most 253"),
    ("/x", "the prefix '' must be a DNS subdomain"),
    ("example.com/", "the name '' must be 1-63"),
    ("", "the name '' must be 1-63"),
    ("-x", "the name '-x'"),
    ("x_", "the name 'x_'"),
    ("a" * 64, "must be 1-63"),
    ("a/b/c", "at most one '/'"),
    ("x y", "the name 'x y'"),
]


@pytest.mark.parametrize("key", QUALIFIED_NAMES)
def test_qualified_names_are_accepted(key: str) -> None:
    assert check_qualified_name(key) == key


@pytest.mark.parametrize(("key", "message"), NOT_QUALIFIED_NAMES)
def test_bad_qualified_names_are_refused(key: str, message: str) -> None:
    with pytest.raises(ValueError, match="is not a qualified name") as caught:
        check_qualified_name(key)
    assert message in str(caught.value)


def test_exceeds_says_what_the_bigger_side_leaves_unset() -> None:
    small = Resources(cpu="4", memory="128Gi", gpus=2)
    assert exceeds(small, Resources(cpu="64"), "deserved") == [
        "memory 128Gi but deserved sets no memory",
        "gpus 2 but deserved sets no gpus",
    ]
    assert exceeds(small, Resources(cpu="2", memory="1Ti", gpus=2), "limits") == ["cpu 4 > 2"]


@pytest.mark.parametrize("key", ANNOTATION_ONLY_NAMES)
def test_capitals_in_the_prefix_are_for_annotation_keys_only(key: str) -> None:
    assert check_qualified_name(key, ignore_case=True) == key
    with pytest.raises(ValueError, match="must be a DNS subdomain \\(at most 253 lowercase"):
        check_qualified_name(key)


@pytest.mark.parametrize(("key", "message"), NOT_QUALIFIED_NAMES)
def test_bad_annotation_keys_are_refused(key: str, message: str) -> None:
    with pytest.raises(ValueError, match="is not a qualified name") as caught:
        check_qualified_name(key, ignore_case=True)
    assert message in str(caught.value)
