"""Run the `grokdash` command in this process, as a shell would, and keep what it printed."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from unittest import mock

from grokdash.cli import main


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(args: list[str], env: Mapping[str, str] | None = None, stdin: str = "") -> CliResult:
    """`grokdash ARGS` with `env` added to the environment; standard input is `stdin`, not a terminal."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, dict(env or {})),
        mock.patch("sys.stdin", io.StringIO(stdin)),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main(args)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        else:
            code = 0
    return CliResult(code, out.getvalue(), err.getvalue())


def sim_env(sim, key: str, folder) -> dict[str, str]:
    """The environment of a command against `sim`, with its task database in `folder`."""
    return {"GROKDASH_BASE_URL": sim.base_url, "GROKDASH_API_KEY": key, "GROKDASH_DB": str(folder / "t.json")}


def listed_ids(env: Mapping[str, str]) -> list[str]:
    """The ids `grokdash ls --json` lists, in its order."""
    result = run_cli(["ls", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return [item["id"] for item in json.loads(result.stdout)]
