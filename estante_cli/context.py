"""What every command gets from the global options: the services' URLs, the timeout, the
config directory, and the API client made from them on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from estante_cli.client import Api
from estante_cli.credentials import CredentialStore


@dataclass
class State:
    auth_url: str
    books_url: str
    timeout: float
    config_dir: Path
    _api: Api | None = field(default=None, repr=False)

    def api(self, ctx: typer.Context) -> Api:
        if self._api is None:
            self._api = Api(
                self.auth_url, self.books_url, CredentialStore(self.config_dir), self.timeout
            )
            ctx.find_root().call_on_close(self._api.close)
        return self._api


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    assert found is not None, "the root command's callback sets it"
    return found


def api(ctx: typer.Context) -> Api:
    return state(ctx).api(ctx)
