"""Static tokens in kube-apiserver's token file format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def test_a_changed_file_is_read_again_and_a_broken_change_keeps_the_old_tokens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(f"{ALICE},alice,u1\n")
    tokens = StaticTokens(path)
    assert tokens.find(ALICE) is not None and tokens.find(BOB) is None
    path.write_text(f"{BOB},bob,u2\n")
    os.utime(path, ns=(1, 10**18))  # a distinct modification time on coarse clocks
    found = tokens.find(BOB)
    assert found is not None and found.name == "bob"
    assert tokens.find(ALICE) is None  # a removed token stops working
    path.write_text("broken\n")
    os.utime(path, ns=(1, 2 * 10**18))
    assert tokens.find(BOB) is not None
