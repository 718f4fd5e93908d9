"""`endoscribe`: the commands, their arguments, and what a person sees (Typer for the first, Rich for the rest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli import dictate as dictating
from cli import transcribe as transcribing
from cli.client import FINAL_STATUSES, Api, ApiError
from cli.config import CONFIG_ENV, DEFAULT_URL, KEY_ENV, URL_ENV, ConfigError, resolve

app = typer.Typer(help="Transcribe clinical dictation with an EndoScribe server, and follow your jobs.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Your jobs: list them, show one, cancel one, fetch a transcript.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

out = Console()
err = Console(stderr=True)


class Format(StrEnum):
    txt = "txt"
    srt = "srt"
    vtt = "vtt"
    json = "json"


@app.callback()
def connect(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help=f"API base URL (else ${URL_ENV}, the config file, {DEFAULT_URL})")]
    = None,
    api_key: Annotated[str | None, typer.Option(help=f"API key (else ${KEY_ENV}, the config file)")] = None,
    config: Annotated[Path | None, typer.Option(
        help=f"TOML file with url and api_key (else ${CONFIG_ENV}, ~/.config/endoscribe/config.toml)")] = None,
) -> None:
    """Where the server is and which key to use: each from the flag, else the environment, else the file."""
    ctx.obj = (url, api_key, config)


@contextmanager
def _api(ctx: typer.Context) -> Iterator[Api]:
    """The API client for this command; a refusal or a bad config ends the command with its message."""
    try:
        api = Api(resolve(*ctx.obj))
    except ConfigError as exc:
        err.print(_error(str(exc)))
        raise typer.Exit(2) from None
    try:
        yield api
    except ApiError as exc:
        err.print(_error(str(exc)))
        raise typer.Exit(1) from None
    finally:
        api.close()


@app.command()
def transcribe(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True,
                                                help="recordings: wav, flac, mp3, m4a, ogg, webm")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="transcript format to write")] = Format.txt,
    out_dir: Annotated[Path, typer.Option("--out", "-O", file_okay=False, help="folder for the transcripts")]
    = Path(),
    note_type: Annotated[str | None, typer.Option(help="the job's note_type (colonoscopy, egd, …)")] = None,
    language: Annotated[str | None, typer.Option(help="spoken language, e.g. en")] = None,
    prompt: Annotated[str | None, typer.Option(help="initial prompt: words the dictation is likely to use")]
    = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-o", metavar="NAME=VALUE",
                                                     help="any other job field (repeatable)")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the jobs and write their transcripts")]
    = True,
    poll: Annotated[bool, typer.Option(help="poll the jobs instead of following their event streams")] = False,
) -> None:
    """Upload recordings, follow each job with a progress bar, and write the transcripts to --out.

    Exits 1 if any upload is refused or any job does not complete."""
    fields = transcribing.job_fields(note_type=note_type, language=language, initial_prompt=prompt,
                                     options=option or [])
    with _api(ctx) as api:
        outcomes = transcribing.run(api, files, fields, fmt.value, out_dir, wait=wait, poll=poll, console=err)
    out.print(transcribing.summary(outcomes, wait))
    if not all(o.ok(wait) for o in outcomes):
        raise typer.Exit(1)


@jobs_app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option("--status", "-s", help="only this status (repeatable)")]
    = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="how many, newest first")] = 20,
    every: Annotated[bool, typer.Option("--all", help="every job, however many")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Your jobs, newest first."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    with _api(ctx) as api:
        while every or len(found) < limit:
            page = api.jobs(status or [], 100 if every else min(100, limit - len(found)), cursor)
            found += page["jobs"]
            if (cursor := page["next_cursor"]) is None:
                break
    if as_json:
        out.print_json(json.dumps(found))
        return
    table = Table("ID", "Status", "Stage", "Progress", "Created (UTC)", "Audio", "Error", box=None)
    for job in found:
        audio = f"{job['audio_seconds']:.0f} s" if job.get("audio_seconds") else ""
        error = (job.get("error") or {}).get("code", "")
        table.add_row(Text(job["id"]), _status(job["status"]), Text(job["stage"]), f"{job['progress']:.0f}%",
                      Text(job["created_at"][:19].replace("T", " ")), audio, Text(error))
    out.print(table if found else Text("no jobs"))


@jobs_app.command("get")
def get_job(ctx: typer.Context, job_id: str,
            as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """One job: status, stage, progress, timings, error and callback."""
    with _api(ctx) as api:
        job = api.job(job_id)
    if as_json:
        out.print_json(json.dumps(job))
        return
    table = Table(show_header=False, box=None)
    for name, value in job.items():
        if value not in (None, {}, []):
            shown = _status(value) if name == "status" else Text(
                json.dumps(value) if isinstance(value, dict) else str(value))
            table.add_row(Text(name, style="bold"), shown)
    out.print(table)


@jobs_app.command("cancel")
def cancel_job(ctx: typer.Context, job_id: str) -> None:
    """Cancel a queued or running job (an ended one is left alone)."""
    with _api(ctx) as api:
        status = api.job(job_id)["status"]
        if status in FINAL_STATUSES:
            err.print(_error(f"job {job_id} is already {status}; nothing to cancel"))
            raise typer.Exit(1)
        job = api.cancel(job_id)
    if job is not None and job["status"] == "cancelled":
        out.print(Text(f"job {job_id} cancelled"))
    else:
        out.print(Text(f"job {job_id} is running: asked to stop; it ends as cancelled within seconds"))


@jobs_app.command("result")
def job_result(
    ctx: typer.Context, job_id: str,
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.txt,
    to: Annotated[Path | None, typer.Option("--out", "-O", dir_okay=False, help="write to this file")] = None,
) -> None:
    """A completed job's transcript, on standard output or into a file."""
    with _api(ctx) as api:
        body = api.result(job_id, fmt.value)
    if to is None:
        typer.echo(body, nl=not body.endswith("\n"))
    else:
        to.write_text(body)
        err.print(Text(f"wrote {to}"))


@app.command()
def dictate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="a 16 kHz mono 16-bit WAV")],
    speed: Annotated[float, typer.Option(min=0.1, max=100, help="times real time")] = 1.0,
    language: Annotated[str | None, typer.Option(help="spoken language, e.g. en")] = None,
    hotwords: Annotated[str | None, typer.Option(help="vocabulary to favour, e.g. 'cecum, sessile'")] = None,
) -> None:
    """Stream a recording to a live session as if dictated now: partial text dim, finals as they come."""
    options = {k: v for k, v in {"language": language, "hotwords": hotwords}.items() if v}
    with _api(ctx) as api:
        for event in dictating.dictate(api, file, options, speed):
            kind = event["type"]
            if kind == "partial":
                out.print(Text(f"… {event['text']}", style="dim"))
            elif kind == "final":
                out.print(Text.assemble((f"{event['start']:7.2f}–{event['end']:.2f}", "bold"), f"  {event['text']}"))
            elif kind == "lagging":
                err.print(Text(f"the transcription is {event['delay']} s behind", style="yellow"))
            elif kind == "error":
                err.print(Text.assemble((f"{event['code']}:", "red"), f" {event['message']}"))
            else:
                out.print(Text(f"ended: job {event['job_id']} (result: {event['result_url']})"))


@app.command()
def workers(ctx: typer.Context,
            as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The live transcription workers, from their heartbeats (`/gpu-info`)."""
    with _api(ctx) as api:
        found = api.workers()
    if as_json:
        out.print_json(json.dumps(found))
        return
    table = Table("Worker", "Model", "Device", "GPU", "GPU memory", "Jobs done", "Last seen (UTC)", box=None)
    for w in found:
        memory = ""
        if w.get("gpu_memory_total_gb"):
            memory = f"{w.get('gpu_memory_allocated_gb') or 0:g} / {w['gpu_memory_total_gb']:g} GB"
        cells = (w.get("worker", ""), w.get("model") or "", w.get("device") or "", w.get("gpu_name") or "", memory,
                 w.get("jobs_done", ""), str(w.get("last_seen", ""))[:19].replace("T", " "))
        table.add_row(*(Text(str(cell)) for cell in cells))
    out.print(table if found else Text("no live workers"))


# What the server sends (transcripts, job fields, messages) is printed as Text, never as Rich markup:
# a transcript's "[inaudible]" would vanish as an unknown tag, and "[/]" would raise MarkupError.


def _status(status: str) -> Text:
    colour = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(status, "cyan")
    return Text(status, style=colour)


def _error(message: str) -> Text:
    return Text.assemble(("error:", "red"), f" {message}")


def main() -> None:
    """The `endoscribe` console script."""
    app()
