"""Static tokens in kube-apiserver's token file format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glue.model_registry.auth.settings import AuthSettings
from glue.model_registry.auth.static import StaticTokenError, StaticTokens, parse_token_file

ALICE = "a" * 40
BOB = "b" * 40


def test_rows_give_users_and_groups() -> None:
    found = parse_token_file(
        f'# comment\n{ALICE},alice,u1,"cv-promoters,ml"\n\n{BOB},bob,u2\n', source="tokens.csv"
    )
    users = sorted((p.name, sorted(p.groups), p.method) for p in found.values())
    assert users == [("alice", ["cv-promoters", "ml"], "static"), ("bob", [], "static")]
    assert ALICE not in str(found)  # digests only


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("short,alice,u1\n", "line 1: tokens need at least 32"),
        (f"{ALICE},alice\n", "line 1: expected token,user,uid"),
        (f"{ALICE},,u1\n", "line 1: the user name is empty"),
        (f"{ALICE},alice,u1\n{ALICE},mallory,u2\n", "line 2: this token is already"),
    ],
)
def test_malformed_rows_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(StaticTokenError, match=message):
        parse_token_file(text, source="tokens.csv")


def test_a_changed_file_is_read_again_and_a_broken_or_deleted_file_fails_closed(
    tmp_path: Path,
) -> None:
    """The trial's inputs: removing bob's line while adding a bad one, or deleting the file,
    left bob's token working (200) with nothing logged."""
    path = tmp_path / "tokens.csv"
    path.write_text(f"{ALICE},alice,u1\n")
    tokens = StaticTokens(path)
    assert tokens.find(ALICE) is not None and tokens.find(BOB) is None
    path.write_text(f"{BOB},bob,u2\n")
    os.utime(path, ns=(1, 10**18))  # a distinct modification time on coarse clocks
    found = tokens.find(BOB)
    assert found is not None and found.name == "bob"
    assert tokens.find(ALICE) is None  # a removed token stops working
    path.write_text("short,mallory,9\n")
    os.utime(path, ns=(1, 2 * 10**18))
    assert tokens.find(BOB) is None  # a broken file revokes every static token
    path.write_text(f"{BOB},bob,u2\n")
    os.utime(path, ns=(1, 3 * 10**18))
    assert tokens.find(BOB) is not None  # until it is fixed
    path.unlink()
    assert tokens.find(BOB) is None


def test_a_byte_order_mark_is_not_part_of_the_first_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{ALICE},alice,u1\n".encode())
    assert StaticTokens(path).find(ALICE) is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe,x", "not UTF-8"), (b"abc,u,1\n", "line 1: tokens need at least 32")],
)
def test_a_bad_file_is_a_settings_error_naming_it(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "tokens.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as refused:
        AuthSettings(static_tokens_file=path)
    assert str(path) in str(refused.value)
