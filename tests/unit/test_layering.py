"""The shape of the code: only the dashboard may import textual (docs/architecture.md: data flows one way)."""

import ast
import subprocess
import sys
from pathlib import Path

import grokdash

PACKAGE = Path(grokdash.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_outside_the_dashboard_imports_textual_or_the_dashboard():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "tui":
            continue
        for name in imported_modules(path):
            if name == "textual" or name.startswith(("textual.", "grokdash.tui")):
                offenders.append(f"{relative} imports {name}")
    # cli.py may open the dashboard, but only through a lazy import inside the function that does.
    offenders = [line for line in offenders if not _lazy_in_cli(line)]
    assert offenders == []


def _lazy_in_cli(line: str) -> bool:
    if not line.startswith("cli.py imports grokdash.tui"):
        return False
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    top_level = {
        node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    return not any(module.startswith("grokdash.tui") for module in top_level)


def test_the_command_line_starts_without_loading_textual():
    # `grokdash status` in a script should not pay for the dashboard's imports.
    code = "import sys, grokdash.cli; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
