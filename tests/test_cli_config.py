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
