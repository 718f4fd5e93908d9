"""An image's file tree and environment, assembled from its Dockerfile without Docker.

The final stage's `COPY` lines (minus `.dockerignore`) are copied into a folder that stands for the
image's `/app`, and its `ENV` lines become the environment, with `/app` pointing at that folder. A
command run there with the image's virtualenv sees what it would see in the container: a package the
Dockerfile forgot to copy is missing here too.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.infra import REPO, dockerfile_instructions, env_values, final_stage

IMAGE_ROOT = "/app"


@dataclass(frozen=True)
class ImageTree:
    dockerfile: str
    root: Path
    """The folder that stands for the image's /app."""
    env: dict[str, str]
    """The image's ENV values, /app rewritten to `root`; PATH and the venv are the caller's."""


def _ignored_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip().removeprefix("**/") for line in lines if line.strip() and not line.startswith("#")]


def _ignore(patterns: list[str]):  # type: ignore[no-untyped-def]
    def ignore(_: str, names: list[str]) -> set[str]:
        return {name for name in names if any(fnmatch.fnmatch(name, p) for p in patterns)}

    return ignore


def arg_defaults(dockerfile: str) -> dict[str, str]:
    """`ARG NAME=default` values (an ARG without a default is empty)."""
    defaults: dict[str, str] = {}
    for keyword, args in dockerfile_instructions(dockerfile):
        if keyword == "ARG":
            name, _, value = args.partition("=")
            defaults[name] = value
    return defaults


def copied_paths(dockerfile: str) -> list[tuple[str, str]]:
    """(source in the build context, destination in the image) for each COPY of the final stage."""
    pairs: list[tuple[str, str]] = []
    workdir = "/"
    for keyword, args in final_stage(dockerfile):
        if keyword == "WORKDIR":
            workdir = args
        if keyword != "COPY" or args.startswith("--"):
            continue
        *sources, destination = shlex.split(args)
        if not destination.startswith("/"):
            destination = f"{workdir.rstrip('/')}/{destination}"
        pairs += [(source, destination) for source in sources]
    return pairs


def assemble(dockerfile: str, into: Path, build_args: dict[str, str] | None = None) -> ImageTree:
    """Copy what the image copies into `into` (standing for /app) and return the tree.

    `${ARG}` in ENV values takes `build_args`, else the ARG's default in the Dockerfile.
    """
    args = {**arg_defaults(dockerfile), **(build_args or {})}
    patterns = _ignored_patterns()
    for source, destination in copied_paths(dockerfile):
        assert destination.startswith(IMAGE_ROOT), f"{dockerfile} copies {source} outside {IMAGE_ROOT}"
        target = into / destination.removeprefix(IMAGE_ROOT).strip("/")
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=_ignore(patterns), dirs_exist_ok=True)
        else:
            into_dir = destination.endswith("/")  # Docker creates a destination folder ("COPY a b dir/")
            (target if into_dir else target.parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name if into_dir else target)
    env = {
        key: re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), value).replace(IMAGE_ROOT, str(into))
        for key, value in env_values(dockerfile).items()
        if key != "PATH"
    }
    return ImageTree(dockerfile, into, env)
