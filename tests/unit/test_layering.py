"""The shape of the code (docs/architecture.md): the import-linter contracts in pyproject.toml hold, and
they fail on a wrong-way import."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grokdash

PACKAGE = Path(grokdash.__file__).parent
ROOT = PACKAGE.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

LAYERS = "Layers: the surfaces on top, the values at the bottom"
TEXTUAL = "Only the dashboard imports textual"
SIMULATOR = "The simulator shares only the request rules with the client"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the contracts of root/pyproject.toml on root/grokdash (not on whatever grokdash is installed)."""
    assert LINT_IMPORTS.exists(), "import-linter is in the test extra: pip install -e '.[test]'"
    # Plain, unwrapped text whatever the terminal settings: rich prints the report.
    env = {
        k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
    }
    env.update(PYTHONPATH=str(root), COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in (LAYERS, TEXTUAL, SIMULATOR):
        assert f"{contract} KEPT" in result.stdout


WRONG_WAY = {
    "up": ("models.py", "import grokdash.tui.app", LAYERS, "grokdash.models -> grokdash.tui.app"),
    "up-to-cli": ("store.py", "import grokdash.cli", LAYERS, "grokdash.store -> grokdash.cli"),
    # Two modules of one layer (`|`) importing each other.
    "sideways": ("poller.py", "import grokdash.downloads", LAYERS, "grokdash.poller -> grokdash.downloads"),
    # A module the contract gives no place (it is `exhaustive`).
    "unplaced": ("unplaced.py", "", LAYERS, "grokdash.unplaced"),
    "textual": ("store.py", "import textual", TEXTUAL, "grokdash.store -> textual"),
    "sim": ("sim/state.py", "import grokdash.models", SIMULATOR, "grokdash.sim.state -> grokdash.models"),
}


@pytest.mark.parametrize(("module", "line", "broken", "shown"), WRONG_WAY.values(), ids=WRONG_WAY.keys())
def test_a_wrong_way_import_breaks_its_contract(tmp_path, module, line, broken, shown):
    shutil.copytree(PACKAGE, tmp_path / "grokdash", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "grokdash" / module
    with path.open("a") as file:
        file.write(f"\n{line}\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0, result.stdout + result.stderr
    assert f"{broken} BROKEN" in result.stdout
    assert shown in result.stdout.split("Broken contracts", 1)[1]


# That `import grokdash.cli` loads no textual (the contracts let cli import grokdash.tui: the import in
# run_dashboard must stay lazy) is checked with the rest of what it must not load, in
# test_startup_imports.py.
