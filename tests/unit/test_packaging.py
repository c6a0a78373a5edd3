"""What a non-editable install must carry besides the Python files (a missing one breaks only there)."""

import tomllib
from pathlib import Path

import grokdash

ROOT = Path(grokdash.__file__).parent


def test_every_data_file_of_the_package_is_declared_as_package_data():
    pyproject = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())
    declared = pyproject["tool"]["setuptools"]["package-data"]
    data_files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert data_files, "expected the simulator's video and the dashboard's stylesheet"
    for path in data_files:
        package = ".".join(path.parent.relative_to(ROOT.parent).parts)
        patterns = declared.get(package, [])
        assert any(path.match(pattern) for pattern in patterns), f"{path} is not in package-data"
