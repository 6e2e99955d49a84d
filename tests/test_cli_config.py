"""`shipdeck config` and `shipdeck completion`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from shipdeck.cli import main


def test_config_names_the_files_and_shows_the_settings_but_no_key(tmp_path: Path) -> None:
    tui = tmp_path / "config.toml"
    tui.write_text(
        'default_profile = "prod"\n[profiles.prod]\nurl = "https://deploy.internal"\n'
        'token_env = "PROD_TOKEN"\n'
    )
    engine = tmp_path / "engine.toml"
    engine.write_text('[webhooks.github]\nsecret = "hunter2-hunter2"\n')

    shown = CliRunner().invoke(
        main,
        ["config", "--config", str(tui), "--engine", str(engine)],
        env={"PROD_TOKEN": "sdk_abc_very-secret", "SHIPDECK_TOKEN": ""},
    )

    assert shown.exit_code == 0, shown.output
    assert f"config file:     {tui} (found)" in shown.output
    assert "data folder:" in shown.output and "local database:  sqlite:///" in shown.output
    assert '"default_profile": "prod"' in shown.output
    assert '"token_env": "PROD_TOKEN (set)"' in shown.output
    assert "$SHIPDECK_TOKEN (not set)" in shown.output
    assert '"secret": "**********"' in shown.output
    assert "very-secret" not in shown.output and "hunter2" not in shown.output


def test_a_broken_config_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    broken.write_text("theme = [")
    result = CliRunner().invoke(main, ["config", "--config", str(broken)])
    assert result.exit_code == 1 and result.output.splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in result.output


def test_completion_is_clicks_own() -> None:
    runner = CliRunner()
    script = runner.invoke(main, ["completion", "bash"])
    assert script.exit_code == 0 and "_SHIPDECK_COMPLETE=bash_complete" in script.output
    assert "compdef" in runner.invoke(main, ["completion", "zsh"]).output

    completed = runner.invoke(
        main,
        [],
        prog_name="shipdeck",
        env={
            "_SHIPDECK_COMPLETE": "bash_complete",
            "COMP_WORDS": "shipdeck rep",
            "COMP_CWORD": "1",
        },
    )
    assert completed.output.split() == ["plain,report"]
    options = runner.invoke(
        main,
        [],
        prog_name="shipdeck",
        env={
            "_SHIPDECK_COMPLETE": "bash_complete",
            "COMP_WORDS": "shipdeck report --sta",
            "COMP_CWORD": "2",
        },
    )
    assert options.output.split() == ["plain,--status"]


ENGINE_WITH_SECRETS = """
[logs.secrets]
checkout = ["pa55-literal-one", "pa55-literal-two"]

[drivers.ship]
kind = "command"
argv = ["./deploy.sh", "{service}"]
env = { AWS_SECRET_ACCESS_KEY = "aws-very-secret", DEPLOY_TOKEN = "deploy-very-secret" }

[drivers.iac]
kind = "gitops"
repository = "/srv/iac"
values_path = "envs/{environment}/values.yaml"
remote = "https://bot:git-very-secret@git.example.com/iac.git"
health_url = "https://{service}.internal/healthz?token=health-very-secret&verbose=1"

[webhooks.github]
secret = "hook-very-secret"

[control]
key = "control-very-secret"
"""


def test_config_masks_every_secret_of_an_engine_file(tmp_path: Path) -> None:
    tui = tmp_path / "config.toml"
    tui.write_text(
        '[profiles.db]\nembedded = true\ndatabase = "postgresql://ops:db-very-secret@pg/ship"\n'
        '[profiles.web]\nurl = "https://tok-very-secret@deploy.internal"\n'
    )
    engine = tmp_path / "engine.toml"
    engine.write_text(ENGINE_WITH_SECRETS)

    shown = CliRunner().invoke(
        main, ["config", "--config", str(tui), "--engine", str(engine)], env={"SHIPDECK_TOKEN": ""}
    )

    assert shown.exit_code == 0, shown.output
    assert "very-secret" not in shown.output and "pa55-literal" not in shown.output
    # What is masked stays recognisable: the names, the user, the host, the other fields.
    assert '"checkout": [\n        "********",\n        "********"\n      ]' in shown.output
    assert '"AWS_SECRET_ACCESS_KEY": "********"' in shown.output
    assert '"DEPLOY_TOKEN": "********"' in shown.output
    assert '"remote": "https://bot:********@git.example.com/iac.git"' in shown.output
    assert "healthz?token=********&verbose=1" in shown.output
    assert '"database": "postgresql://ops:********@pg/ship"' in shown.output
    assert '"url": "https://********@deploy.internal"' in shown.output
    assert '"argv": [\n        "./deploy.sh",' in shown.output
    assert "control.key_sha256 is the SHA-256 of the control key, not the key itself" in (
        shown.output
    )


def test_a_url_without_credentials_is_shown_as_it_is() -> None:
    from shipdeck.cli_config import hide_url

    for plain in ("origin", "git@github.com:acme/iac.git", "https://{service}.internal/healthz"):
        assert hide_url(plain) == plain
    assert hide_url("http://h:notaport/") == "http://h:notaport/"
