"""`endoscribe transcribe`: upload each recording with a byte bar, then follow every job with a live bar
and write its transcript as it completes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from cli.client import Api, ApiError

# Jobs followed at once; the rest wait their turn (their bars show "queued" meanwhile).
MAX_FOLLOWED = 8


@dataclass
class Outcome:
    """What became of one file."""

    file: Path
    job_id: str | None = None
    status: str = "not submitted"
    output: Path | None = None
    error: str | None = None

    def ok(self, waited: bool) -> bool:
        return self.status == "completed" if waited else self.job_id is not None


def job_fields(note_type: str | None, language: str | None, initial_prompt: str | None,
               options: list[str]) -> dict[str, str]:
    """The form fields sent with each file: the named options, then each `NAME=VALUE` as given."""
    fields = {name: value for name, value in (("note_type", note_type), ("language", language),
                                              ("initial_prompt", initial_prompt)) if value}
    for item in options:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--option")
        fields[name.strip()] = value
    return fields


def run(api: Api, files: list[Path], fields: dict[str, str], fmt: str, out_dir: Path, *, wait: bool, poll: bool,
        console: Console) -> list[Outcome]:
    outcomes = [Outcome(file) for file in files]
    upload(api, outcomes, fields, console)
    submitted = [o for o in outcomes if o.job_id]
    if wait and submitted:
        out_dir.mkdir(parents=True, exist_ok=True)
        follow(api, submitted, fmt, out_dir, poll, console)
    return outcomes


def upload(api: Api, outcomes: list[Outcome], fields: dict[str, str], console: Console) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        for outcome in outcomes:
            size = outcome.file.stat().st_size
            # Progress columns read markup: a file name or a server's word is escaped into it.
            task = progress.add_task(f"upload  {escape(outcome.file.name)}", total=size)
            try:
                with outcome.file.open("rb") as handle, progress.wrap_file(handle, total=size, task_id=task) as reader:
                    job = api.submit(outcome.file, reader, fields)
            except ApiError as exc:
                outcome.error = str(exc)
                progress.update(task, description=f"[red]refused[/red] {escape(outcome.file.name)}")
                continue
            outcome.job_id, outcome.status = job["id"], job["status"]


def follow(api: Api, outcomes: list[Outcome], fmt: str, out_dir: Path, poll: bool, console: Console) -> None:
    paths = output_paths(outcomes, fmt, out_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[state]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks = {id(o): progress.add_task(escape(o.file.name), total=100, state="queued") for o in outcomes}

        def one(outcome: Outcome) -> None:
            _follow_one(api, outcome, progress, tasks[id(outcome)], fmt, paths[id(outcome)], poll)

        with ThreadPoolExecutor(max_workers=min(MAX_FOLLOWED, len(outcomes))) as pool:
            list(pool.map(one, outcomes))


def _follow_one(api: Api, outcome: Outcome, progress: Progress, task: TaskID, fmt: str, path: Path,
                poll: bool) -> None:
    assert outcome.job_id is not None
    try:
        state: dict[str, object] = {}
        for state in api.follow(outcome.job_id, poll):
            status, stage = str(state["status"]), str(state["stage"])
            label = stage if status == "processing" else status
            progress.update(task, completed=float(str(state["progress"])), state=escape(label))
        outcome.status = str(state["status"])
        if outcome.status == "completed":
            path.write_text(api.result(outcome.job_id, fmt))
            outcome.output = path
            progress.update(task, completed=100, state=f"[green]completed[/green] → {escape(str(path))}")
            return
        error = state.get("error")
        outcome.error = str(error["message"]) if isinstance(error, dict) else outcome.status
        code = f" ({error['code']})" if isinstance(error, dict) else ""
        progress.update(task, state=f"[red]{escape(outcome.status + code)}[/red]")
    except (ApiError, OSError) as exc:
        outcome.status, outcome.error = "error", str(exc)
        progress.update(task, state="[red]error[/red]")


def output_paths(outcomes: list[Outcome], fmt: str, out_dir: Path) -> dict[int, Path]:
    """`<stem>.<fmt>` in `out_dir`; a stem given twice gets its job id's first characters too."""
    paths: dict[int, Path] = {}
    taken: set[Path] = set()
    for outcome in outcomes:
        path = out_dir / f"{outcome.file.stem}.{fmt}"
        if path in taken:
            path = out_dir / f"{outcome.file.stem}-{(outcome.job_id or '')[:8]}.{fmt}"
        taken.add(path)
        paths[id(outcome)] = path
    return paths


def summary(outcomes: list[Outcome], waited: bool) -> Table:
    table = Table("File", "Job", "Status", "Transcript" if waited else "Follow with", box=None)
    for o in outcomes:
        colour = "green" if o.ok(waited) else "red"
        detail = str(o.output) if o.output else (o.error or f"endoscribe jobs get {o.job_id}")
        table.add_row(Text(o.file.name), Text(o.job_id or ""), Text(o.status, style=colour), Text(detail))
    return table
