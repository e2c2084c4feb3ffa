"""``python -m auth_service.cli confusable-users``: the accounts whose names read alike.

A new name that reads like an existing account's is refused (:mod:`auth_service.lookalikes`),
but accounts older than that rule may already do so (``ana``, and ``ana`` with a Cyrillic
``a``, U+0430). This lists them, grouped, for an administrator to look into; it changes no account:
nobody is renamed, disabled or deleted behind their back.

Skeletons are computed afresh from the names, so the list is right even where a stored one
is missing (an account a replica of an older release registered during a rolling upgrade) or
outdated (the Unicode data changed). ``--update-skeletons`` stores the fresh ones, so that
registrations are compared with them; it touches no name.

Exit status: 0 when no names read alike, 1 when some do (so a scheduled run can alert),
2 when the command could not run.
"""

from __future__ import annotations

import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth_service.lookalikes import skeleton_key
from auth_service.models import User
from common.db import Database


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    created_at: datetime | None


@dataclass
class Survey:
    """Every group of two or more accounts whose names share a skeleton (by id, groups by
    their first id), and the fresh skeleton of each account whose stored one differs."""

    groups: list[list[Account]] = field(default_factory=list)
    stale: dict[int, str] = field(default_factory=dict)


def survey(session: Session) -> Survey:
    by_skeleton: dict[str, list[Account]] = defaultdict(list)
    result = Survey()
    rows = session.execute(
        select(User.id, User.username, User.role, User.created_at, User.username_skeleton)
        .order_by(User.id)
        .execution_options(yield_per=1000)
    )
    for id_, username, role, created_at, stored in rows:
        skeleton = skeleton_key(username)
        by_skeleton[skeleton].append(Account(id_, username, role, created_at))
        if stored != skeleton:
            result.stale[id_] = skeleton
    result.groups = [group for group in by_skeleton.values() if len(group) > 1]
    return result


def store_skeletons(session: Session, skeletons: dict[int, str]) -> None:
    for id_, skeleton in skeletons.items():
        session.execute(update(User).where(User.id == id_).values(username_skeleton=skeleton))


def spelled(name: str) -> str:
    """The name, with what its letters outside ASCII are: look-alikes differ only there."""
    others = dict.fromkeys(ch for ch in name if not ch.isascii())
    if not others:
        return name
    spelling = ", ".join(f"{ch} U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}" for ch in others)
    return f"{name}  ({spelling})"


def describe(found: Survey) -> str:
    if not found.groups:
        return "no collisions: no two account names read alike"
    lines = [f"{len(found.groups)} group(s) of accounts whose names read alike:"]
    for group in found.groups:
        lines.append("")
        for account in group:
            created = f"  created {account.created_at:%Y-%m-%d}" if account.created_at else ""
            lines.append(f"  id {account.id}  {account.role}{created}  {spelled(account.username)}")
    lines += ["", "Nothing was changed; rename, disable or delete accounts as an administrator."]
    return "\n".join(lines)


def run(db: Database, *, update_skeletons: bool = False) -> int:
    """Print the groups; with ``update_skeletons`` store the fresh skeletons. Exit status."""
    with db.read() as session:
        found = survey(session)
    print(describe(found))
    if found.stale:
        if update_skeletons:
            with db.transaction() as session:
                store_skeletons(session, found.stale)
            print(f"updated the stored skeleton of {len(found.stale)} account(s)")
        else:
            print(
                f"{len(found.stale)} account(s) have a missing or outdated stored skeleton, so "
                "registrations are not compared with it: run again with --update-skeletons",
                file=sys.stderr,
            )
    return 1 if found.groups else 0
