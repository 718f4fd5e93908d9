"""Readers for the deployment files, shared by the tests in this folder (no Docker needed)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def makefile_variable(name: str) -> str:
    """The value of `NAME := value` in the Makefile."""
    match = re.search(rf"^{re.escape(name)}\s*:=\s*(.+?)\s*$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile defines no {name}"
    return match.group(1)


def dockerfile_instructions(name: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def final_stage(name: str) -> list[tuple[str, str]]:
    """The instructions after the last FROM: what the shipped image is made of."""
    instructions = dockerfile_instructions(name)
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def run_commands(name: str) -> list[str]:
    """The shell command of every RUN, without its `--mount=...`-style flags."""
    commands = []
    for keyword, args in dockerfile_instructions(name):
        if keyword == "RUN":
            commands.append(re.sub(r"^(--[a-z-]+=\S+\s+)+", "", args))
    return commands


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD in JSON (exec) form."""
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return [str(part) for part in value]


def env_values(name: str) -> dict[str, str]:
    """Every `ENV KEY=value` of the final stage (last one wins)."""
    values: dict[str, str] = {}
    for keyword, args in final_stage(name):
        if keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def fly() -> dict[str, Any]:
    return tomllib.loads((REPO / "fly.toml").read_text())


def option(argv: list[str], flag: str) -> str:
    """The value of `--flag value` or `--flag=value` (or `-f value`) in an argv."""
    for i, arg in enumerate(argv):
        if arg == flag:
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{flag} not in {argv}")


def entry_point_file(argv: list[str]) -> Path:
    """The source file a uvicorn / celery / `python -m` command line starts from."""
    program = Path(argv[0]).name
    if program == "uvicorn":
        module = argv[1].split(":")[0]
    elif program == "celery":
        module = option(argv, "-A")
    elif program.startswith("python") and argv[1] == "-m":
        module = argv[2]
    else:
        raise AssertionError(f"unknown entry point: {argv}")
    return REPO / (module.replace(".", "/") + ".py")


REFERENCE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:\?|:-|\?|-)(?P<arg>[^}]*))?\}")


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` substitution, applied like compose
    does: to every string value of the parsed file, whichever services are started."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group("name", "op", "arg")
        value = env.get(name, "")
        if op == ":?" and not value:
            raise LookupError(f"required variable {name} is missing a value: {arg}")
        if op == ":-" and not value:
            return arg
        return value

    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, str):
        return REFERENCE.sub(substitute, node.replace("$$", "\0")).replace("\0", "$")
    return node


def resolved(env: dict[str, str]) -> dict[str, Any]:
    data = interpolate(compose(), env)
    assert isinstance(data, dict)
    return data


SECRET_ENV = {  # a value for every required variable, as an operator's .env gives them
    "REDIS_PASSWORD": "0123abcd",
    "FLOWER_BASIC_AUTH": "ops:pw",
    "ENDOSCRIBE_API_KEYS": '["token"]',
    "ENDOSCRIBE_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "ENDOSCRIBE_PUBLIC_URL": "https://scribe.example.org",
}
