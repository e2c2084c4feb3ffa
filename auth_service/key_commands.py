"""The operator's key commands: ``python -m auth_service.key_commands <command> --dir DIR``.

``generate`` a key, ``ensure`` one exists (a deployment's first start), ``rotate`` (generate and
prune), ``prune`` keys retired from the JWKS into ``retired/``, ``list`` the keys and their state.

A command run from a shell does not know what the running service was configured with, so
``prune`` assumes the longest token lifetime, leeway and activation delay the settings allow:
no key the service could still publish is moved.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from auth_service.config import MAX_ACCESS_TOKEN_TTL, MAX_KEY_ACTIVATION_DELAY, AuthSettings
from auth_service.keys import KeyRing, RotationPolicy, SigningKey, generate_key, key_files, prune
from common.config import MAX_JWT_LEEWAY

COMMANDS = {
    "generate": "create a new signing key; it signs once the activation delay has passed",
    "ensure": "create a signing key only if the directory holds none (first deployment)",
    "rotate": "generate a new key and move keys retired from the JWKS to retired/",
    "prune": "move keys retired from the JWKS to retired/",
    "list": "list the keys, their kids and state",
}

# Whatever lifetime and delay the running service has, pruning with these moves none of its keys.
PRUNING_POLICY = RotationPolicy.for_tokens(
    activation_delay=MAX_KEY_ACTIVATION_DELAY,
    access_token_ttl=MAX_ACCESS_TOKEN_TTL,
    leeway=MAX_JWT_LEEWAY,
)


def key_states(ring: KeyRing, now: datetime) -> list[tuple[SigningKey, str]]:
    """Each key with its state: ``active`` (signs), ``published`` (verifies) or ``retired``."""
    active = ring.active_at(now).kid
    published = {key.kid for key in ring.published_at(now)}
    return [
        (key, "active" if key.kid == active else "published" if key.kid in published else "retired")
        for key in ring.keys
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m auth_service.key_commands")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--dir", type=Path, required=True, help="the AUTH_KEYS_DIR directory")
    args = parser.parse_args(argv)
    if args.command == "ensure" and key_files(args.dir):
        print(f"{args.dir} already holds a signing key")
        return
    if args.command in ("generate", "rotate", "ensure"):
        path = generate_key(args.dir)
        print(f"created {path.name} (kid {SigningKey.from_file(path).kid})")
    if args.command in ("rotate", "prune"):
        for path in prune(args.dir, PRUNING_POLICY):
            print(f"retired {path.name}")
    if args.command == "list":
        settings = AuthSettings()  # this shell's view of the lifetimes, as the service would have
        policy = RotationPolicy.for_tokens(
            activation_delay=settings.key_activation_delay,
            access_token_ttl=settings.access_token_ttl,
            leeway=settings.jwt_leeway,
        )
        for key, state in key_states(KeyRing.load(args.dir, policy), datetime.now(UTC)):
            print(f"{key.path.name}\t{key.kid}\t{state}")


if __name__ == "__main__":
    main()
