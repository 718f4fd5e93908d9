"""The `endoscribe` command's arguments and configuration, without a server."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner, Result

from cli import app as cli_app
from cli import dictate as dictating
from cli.app import app
from cli.client import FINAL_STATUSES, ApiError
from cli.config import DEFAULT_URL, Config, ConfigError, default_config_path, resolve
from cli.transcribe import Outcome, job_fields, output_paths, summary
from core.jobs import FINAL_STATUSES as STORED_FINAL_STATUSES
from tests.services import ROOT, free_port


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_each_setting_comes_from_the_flag_else_the_environment_else_the_file_else_the_default(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'url = "https://file.example/"\napi_key = "file-key"\n')
    env = {"ENDOSCRIBE_URL": "https://env.example", "ENDOSCRIBE_API_KEY": "env-key"}

    assert resolve("https://flag.example/", "flag-key", path, env) == Config("https://flag.example", "flag-key")
    assert resolve(None, None, path, env) == Config("https://env.example", "env-key")
    assert resolve(None, "flag-key", path, {}) == Config("https://file.example", "flag-key")
    assert resolve(None, None, tmp_path / "absent.toml", {}) == Config(DEFAULT_URL, None)


def test_the_config_file_is_found_where_the_environment_says(tmp_path: Path) -> None:
    assert default_config_path({"ENDOSCRIBE_CONFIG": "/etc/endoscribe.toml"}) == Path("/etc/endoscribe.toml")
    assert default_config_path({"XDG_CONFIG_HOME": "/cfg"}) == Path("/cfg/endoscribe/config.toml")
    assert default_config_path({}) == Path.home() / ".config" / "endoscribe" / "config.toml"
    path = write_config(tmp_path, 'url = "https://chosen.example"\n')
    assert resolve(None, None, None, {"ENDOSCRIBE_CONFIG": str(path)}).url == "https://chosen.example"


@pytest.mark.parametrize(("text", "message"), [
    ("url = ", "cannot read the config file"),
    ('url = "x"\ntoken = "y"\n', "unknown setting(s) token; it may hold url and api_key"),
    ("api_key = 42\n", "url and api_key must be strings (in quotes)"),
])
def test_a_malformed_config_file_is_named_with_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = write_config(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        resolve(None, None, path, {})

    assert str(path) in str(raised.value) and message in str(raised.value)


def test_job_fields_pass_named_options_and_any_name_value_pair() -> None:
    assert job_fields("colonoscopy", "en", None, ["hotwords=polyp, cecum", "callback_format=fhir", "x="]) == {
        "note_type": "colonoscopy", "language": "en", "hotwords": "polyp, cecum", "callback_format": "fhir", "x": ""}
    with pytest.raises(typer.BadParameter, match="'hotwords' is not NAME=VALUE"):
        job_fields(None, None, None, ["hotwords"])


def test_two_recordings_with_one_name_get_two_transcript_files() -> None:
    outcomes = [Outcome(Path("a/visit.wav"), "11111111-aaaa"), Outcome(Path("b/visit.mp3"), "22222222-bbbb"),
                Outcome(Path("c/other.wav"), "33333333-cccc")]

    paths = output_paths(outcomes, "srt", Path("out"))

    assert [paths[id(o)] for o in outcomes] == [Path("out/visit.srt"), Path("out/visit-22222222.srt"),
                                                Path("out/other.srt")]


def test_the_command_knows_the_final_statuses_the_server_stores() -> None:
    assert {s.value for s in STORED_FINAL_STATUSES} == FINAL_STATUSES


def test_the_project_installs_the_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert project["project"]["scripts"] == {"endoscribe": "cli.app:main"}
    assert "cli" in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert project["tool"]["uv"]["package"] is True


runner = CliRunner()


def test_usage_errors_exit_2_with_what_is_wrong(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    env = {"ENDOSCRIBE_CONFIG": str(tmp_path / "none.toml")}

    missing = runner.invoke(app, ["transcribe", str(tmp_path / "absent.wav")], env=env)
    bad_option = runner.invoke(app, ["transcribe", str(audio), "-o", "hotwords"], env=env)
    bad_format = runner.invoke(app, ["transcribe", str(audio), "--format", "docx"], env=env)
    bad_config = runner.invoke(app, ["jobs", "list"], env={"ENDOSCRIBE_CONFIG": str(write_config(tmp_path, "url"))})

    assert (missing.exit_code, bad_option.exit_code, bad_format.exit_code, bad_config.exit_code) == (2, 2, 2, 2)
    assert "does not exist" in missing.output
    assert "is not NAME=VALUE" in bad_option.output
    assert "docx" in bad_format.output
    assert "cannot read the config file" in bad_config.output


def test_an_unreachable_server_exits_1_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = runner.invoke(app, ["--url", url, "workers"], env={"ENDOSCRIBE_CONFIG": str(tmp_path / "none.toml")})

    assert result.exit_code == 1
    assert f"cannot reach the API at {url}" in " ".join(result.output.split())


# Text that Rich would read as markup: a transcript's own brackets, a closing tag, a style name.
BRACKETS = "[inaudible] biopsy [/] taken [bold]x[/bold]"


class BracketApi:
    """An API whose every string is BRACKETS-laden, as a transcript, a job or a message may be."""

    def __init__(self, config: object) -> None:
        self.job_record = {"id": "[/]", "status": "failed", "stage": "[inaudible]", "progress": 0.0,
                           "created_at": "2024-01-01T00:00:00", "audio_seconds": 3.0,
                           "error": {"code": "[/]", "message": BRACKETS}}

    def close(self) -> None:
        pass

    def jobs(self, statuses: list[str], limit: int, cursor: str | None) -> dict[str, Any]:
        return {"jobs": [self.job_record], "next_cursor": None}

    def job(self, job_id: str) -> dict[str, Any]:
        return self.job_record

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        raise ApiError(BRACKETS)

    def result(self, job_id: str, fmt: str) -> str:
        raise ApiError(BRACKETS)

    def workers(self) -> list[dict[str, Any]]:
        return [{"worker": "[/]", "model": "[inaudible]", "device": "cpu", "jobs_done": 1}]


def run_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]) -> Result:
    monkeypatch.setattr(cli_app, "Api", BracketApi)
    # Wide enough that no table cell wraps mid-word.
    return runner.invoke(app, args, env={"ENDOSCRIBE_CONFIG": str(tmp_path / "none.toml"), "COLUMNS": "400"})


def test_dictate_prints_transcript_text_as_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    events = [{"type": "partial", "text": "[inaudible] the"},
              {"type": "final", "start": 0.0, "end": 1.5, "text": BRACKETS},
              {"type": "error", "code": "[/]", "message": "[red]not red[/red]"},
              {"type": "ended", "job_id": "[/]", "result_url": "http://127.0.0.1/[x]"}]
    monkeypatch.setattr(dictating, "dictate", lambda *args: iter(events))
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")

    result = run_with(monkeypatch, tmp_path, ["dictate", str(audio)])

    assert result.exit_code == 0, result.output
    assert "… [inaudible] the" in result.output
    assert f"0.00–1.50  {BRACKETS}" in result.output
    assert "[/]: [red]not red[/red]" in result.output
    assert "ended: job [/] (result: http://127.0.0.1/[x])" in result.output


def test_jobs_and_workers_print_what_the_server_sent_as_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    listed = run_with(monkeypatch, tmp_path, ["jobs", "list"])
    shown = run_with(monkeypatch, tmp_path, ["jobs", "get", "[/]"])
    workers = run_with(monkeypatch, tmp_path, ["workers"])
    ended = run_with(monkeypatch, tmp_path, ["jobs", "cancel", "[/]"])
    refused = run_with(monkeypatch, tmp_path, ["jobs", "result", "[/]"])

    assert listed.exit_code == 0 and "[/]" in listed.output and "[inaudible]" in listed.output, listed.output
    assert shown.exit_code == 0 and BRACKETS in shown.output and "[inaudible]" in shown.output, shown.output
    assert workers.exit_code == 0 and "[/]" in workers.output and "[inaudible]" in workers.output, workers.output
    assert ended.exit_code == 1 and "error: job [/] is already failed" in ended.output, ended.output
    assert refused.exit_code == 1 and f"error: {BRACKETS}" in refused.output, refused.output


def test_the_transcribe_summary_prints_names_and_messages_as_text() -> None:
    outcomes = [Outcome(Path("visit [draft].wav"), "[/]", "failed", error=BRACKETS)]
    console = Console(record=True, width=400)

    console.print(summary(outcomes, waited=True))

    printed = console.export_text()
    assert "visit [draft].wav" in printed and BRACKETS in printed
