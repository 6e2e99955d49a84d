"""`[webhooks]` in the engine's TOML: the secrets incoming webhooks are signed with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class GithubWebhookConfig(BaseModel):
    """`[webhooks.github]`: GitHub's `deployment` and `deployment_status` events."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = Field(default=None, min_length=1)
    """The secret set in the repository's (or organisation's) webhook settings; every
    delivery must carry its HMAC-SHA256 signature. Give it as the environment variable
    `SHIPDECK_WEBHOOKS__GITHUB__SECRET` to keep it out of the file; it is never shown."""


class WebhooksConfig(BaseModel):
    """Incoming webhooks (`POST /api/webhooks/…`); each answers `404` until configured."""

    model_config = ConfigDict(extra="forbid")

    github: GithubWebhookConfig = Field(default_factory=GithubWebhookConfig)
    """GitHub deployments (`POST /api/webhooks/github`)."""


__all__ = ["GithubWebhookConfig", "WebhooksConfig"]
