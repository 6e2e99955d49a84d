"""Profiles, flags, keymap and theme from the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.launch import client_for, resolve_profile
from shipdeck.tui.config import Profile, TuiConfig, TuiConfigError, load_tui_config
from shipdeck.tui.screens.history import HistoryScreen

from .conftest import make_app, seed, wait_for

CONFIG = """
default_profile = "laptop"
theme = "nord"

[profiles.prod]
url = "https://deploy.example.com"
token_env = "SHIPDECK_TEST_TOKEN"

[profiles.laptop]
embedded = true
database = "sqlite:///{db}"

[keymap]
"matrix.history" = "y"

[notify]
failures = ["uat", "prod"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_profiles_resolve_to_the_right_engine(tmp_path: Path, monkeypatch) -> None:
    config = load_tui_config(write(tmp_path, CONFIG.format(db=tmp_path / "x.db")))
    assert config.theme == "nord" and config.notify.failures == ["uat", "prod"]
    name, profile = resolve_profile(config, None, None)
    assert name == "laptop" and isinstance(client_for(profile), EmbeddedClient)
    monkeypatch.setenv("SHIPDECK_TEST_TOKEN", "sdk_x_y")
    name, profile = resolve_profile(config, "prod", None)
    assert name == "prod" and profile.token() == "sdk_x_y"
    remote = client_for(profile)
    assert remote.label == "https://deploy.example.com"
    name, profile = resolve_profile(config, "prod", "http://other:8080")
    assert name == "http://other:8080" and profile.url == "http://other:8080"


def test_no_profile_means_the_embedded_engine() -> None:
    name, profile = resolve_profile(TuiConfig(), None, None)
    assert profile.embedded and profile.database is None and name == "local"


def test_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    config = load_tui_config(write(tmp_path, CONFIG.format(db="x")))
    with pytest.raises(TuiConfigError, match="laptop, prod"):
        resolve_profile(config, "staging", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("theme = ", "cannot read"),
        ("colour = 'blue'", "colour"),
        ("[profiles.x]\nembedded = true\nurl = 'http://x'", "either url"),
        ("[profiles.x]\ntoken_env = 'T'", "either url"),
        ("[notify]\nfailures = 'sometimes'", "failures"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TuiConfigError, match=message):
        load_tui_config(write(tmp_path, text))


def test_missing_default_config_is_fine_but_a_named_one_is_not(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("shipdeck.tui.config.default_config_path", lambda: tmp_path / "none.toml")
    assert load_tui_config() == TuiConfig()
    with pytest.raises(TuiConfigError, match="does not exist"):
        load_tui_config(tmp_path / "none.toml")


def test_profile_needs_one_kind() -> None:
    with pytest.raises(ValueError, match="either url"):
        Profile()


async def test_keymap_and_theme_apply(db_url: str) -> None:
    await seed(db_url)
    config = TuiConfig(theme="nord", keymap={"matrix.history": "y"})
    app = make_app(EmbeddedClient(db_url), tui_config=config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.matrix.services())
        assert app.theme == "nord"
        await pilot.press("H")  # remapped away
        await pilot.pause(0.2)
        assert not isinstance(app.screen, HistoryScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))


async def test_failure_notifications_follow_the_config(db_url: str) -> None:
    from .conftest import row

    await seed(db_url)
    client = EmbeddedClient(db_url)
    config = TuiConfig.model_validate({"notify": {"failures": ["uat"]}})
    app = make_app(client, tui_config=config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.matrix.services())
        await client.engine.ingest(row("gh-20", "search", "prod", "failure", 0, "9"))
        await client.engine.ingest(row("gh-21", "search", "uat", "failure", 0, "8"))
        await wait_for(pilot, lambda: any("failed in uat" in n.message for n in app._notifications))
        assert not any("failed in prod" in n.message for n in app._notifications)


def test_a_url_or_a_kind_names_a_connector(tmp_path: Path, monkeypatch) -> None:
    """`appaloft+http://…` on the command line, or `kind =` in a profile: the connector, its
    token from `token_env` (default `$SHIPDECK_TOKEN`), named in the header as given."""
    from shipdeck.client.appaloft import AppaloftClient
    from shipdeck.client.pushpaka import PushpakaClient

    monkeypatch.setenv("SHIPDECK_TOKEN", "a-session-token")
    name, profile = resolve_profile(TuiConfig(), None, "appaloft+http://apps:3001")
    client = client_for(profile)
    assert (
        isinstance(client, AppaloftClient) and name == client.label == "appaloft+http://apps:3001"
    )
    assert client.http.api_url == "http://apps:3001/api" and client.http.token == "a-session-token"
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.jobs]\nkind = "pushpaka"\nurl = "https://push.example.com"\n'
        'token_env = "PUSHPAKA_JWT"\n'
    )
    monkeypatch.setenv("PUSHPAKA_JWT", "a.jwt.value")
    _, jobs = resolve_profile(load_tui_config(path), "jobs", None)
    pushpaka = client_for(jobs)
    assert isinstance(pushpaka, PushpakaClient) and pushpaka.http.token == "a.jwt.value"
    assert pushpaka.http.api_url == "https://push.example.com/api/v1"
    with pytest.raises(ValueError, match="the URL says pushpaka"):
        Profile(kind="appaloft", url="pushpaka+http://x")
    with pytest.raises(ValueError, match="names one url"):
        Profile(kind="appaloft", urls=["http://a", "http://b"])
