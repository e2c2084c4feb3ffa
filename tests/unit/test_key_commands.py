"""The operator's key commands, run in process over a temporary key directory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from auth_service import key_commands
from auth_service.config import MAX_ACCESS_TOKEN_TTL, MAX_KEY_ACTIVATION_DELAY
from auth_service.keys import RotationPolicy, key_files
from common.config import MAX_JWT_LEEWAY


def run(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    key_commands.main(list(args))
    return capsys.readouterr().out.splitlines()


def test_ensure_creates_a_key_only_in_an_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    assert run(capsys, "ensure", "--dir", str(keys))[0].startswith("created key-")
    assert run(capsys, "ensure", "--dir", str(keys)) == [f"{keys} already holds a signing key"]
    assert len(key_files(keys)) == 1


def test_list_shows_the_new_key_published_until_the_activation_delay_has_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEY_ACTIVATION_DELAY_SECONDS", "60")
    with time_machine.travel("2026-01-01T00:00:00Z", tick=False) as clock:
        run(capsys, "generate", "--dir", str(tmp_path))
        clock.shift(timedelta(days=1))
        run(capsys, "generate", "--dir", str(tmp_path))
        states = [line.split("\t")[2] for line in run(capsys, "list", "--dir", str(tmp_path))]
        assert states == ["active", "published"]
        clock.shift(timedelta(seconds=61))
        states = [line.split("\t")[2] for line in run(capsys, "list", "--dir", str(tmp_path))]
        assert states == ["published", "active"]


def test_pruning_assumes_the_longest_lifetimes_the_settings_allow() -> None:
    assert (
        RotationPolicy(
            activation_delay=timedelta(seconds=MAX_KEY_ACTIVATION_DELAY),
            retire_after=timedelta(seconds=MAX_ACCESS_TOKEN_TTL + MAX_JWT_LEEWAY + 60),
        )
        == key_commands.PRUNING_POLICY
    )


def test_a_policy_for_tokens_keeps_keys_for_their_lifetime_leeway_and_a_minute() -> None:
    policy = RotationPolicy.for_tokens(activation_delay=30, access_token_ttl=900, leeway=10)
    assert policy.activation_delay == timedelta(seconds=30)
    assert policy.retire_after == timedelta(seconds=970)
