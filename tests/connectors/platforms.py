"""The fakes as the shared TUI suite uses them: seeded with the suite's rows, served on
loopback, and told what CI would have done (`report`, `append_logs`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from shipdeck.client import EngineClient
from shipdeck.client.appaloft import AppaloftClient
from shipdeck.client.pushpaka import PushpakaClient
from shipdeck.domain import DeploymentEventIngest

from .appaloft_fake import TOKEN, AppaloftFake
from .loopback import Loopback
from .pushpaka_fake import PushpakaFake, sha_of

Platform = Literal["appaloft", "pushpaka"]
FAST = {"poll_interval": 0.25, "backoff_base": 0.05, "backoff_cap": 0.3}
"""Quick refreshes and reconnections for tests (the defaults are for people)."""


@dataclass
class PlatformServer:
    """A fake platform on loopback, and how CI would drive it."""

    kind: Platform
    fake: AppaloftFake | PushpakaFake
    loopback: Loopback
    token: str

    @property
    def url(self) -> str:
        return self.loopback.url

    def report(self, body: DeploymentEventIngest) -> None:
        """What a CI run reporting `body` would have made the platform do."""
        if isinstance(self.fake, AppaloftFake):
            self.fake.estate.report(body)
        else:
            if body.version and not body.message:
                body = body.model_copy(update={"message": f"release {body.version}"})
            self.fake.report(body)

    def append_logs(self, deployment_id: str, messages: Iterable[str], level: str = "info") -> None:
        """Log lines a deployment writes."""
        for message in messages:
            if isinstance(self.fake, AppaloftFake):
                self.fake.estate.log(deployment_id, message, level=level)
            else:
                self.fake.log(deployment_id, message, level=level)

    def client(self, **options: object) -> EngineClient:
        """A started-later connector to this fake, with the test's token."""
        options = {**FAST, **options}
        if self.kind == "appaloft":
            return AppaloftClient(self.url, self.token, **options)  # type: ignore[arg-type]
        return PushpakaClient(self.url, self.token, log_check_interval=0.2, **options)  # type: ignore[arg-type]

    def shown(self, version: str) -> str:
        """How the matrix shows a deployment of `version` made by `report` here."""
        return f"@{sha_of(version)[:7]}" if self.kind == "pushpaka" else version


def seeded(kind: Platform, rows: Iterable[DeploymentEventIngest]) -> PlatformServer:
    """A fake `kind` that CI reported `rows` to (not serving yet)."""
    fake: AppaloftFake | PushpakaFake
    if kind == "appaloft":
        fake, token = AppaloftFake(heartbeat_s=0.5), TOKEN
    else:
        fake = PushpakaFake()
        token = fake.login()
    server = PlatformServer(kind, fake, Loopback(fake.app), token)
    for body in rows:
        server.report(body)
    return server


async def platform_server(kind: Platform, rows: Iterable[DeploymentEventIngest]) -> PlatformServer:
    """A fake `kind`, seeded with `rows`, serving on loopback."""
    server = seeded(kind, rows)
    await server.loopback.start()
    return server


__all__ = ["FAST", "Platform", "PlatformServer", "platform_server", "seeded"]
