"""The install lists agree, and the console script is declared."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    deps = sorted(_pyproject()["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item)
    assert sorted(p for p in pip if not p.startswith("-e")) == deps
    assert any(str(p).startswith("python=3.11") for p in env["dependencies"] if isinstance(p, str))


def test_pins_required_by_the_project():
    deps = _pyproject()["project"]["dependencies"]
    assert "torch==2.11.0" in deps and "torchaudio==2.11.0" in deps
    assert "jupyter-book>=1.0.4,<2" in deps


def test_console_script_points_at_the_cli():
    assert _pyproject()["project"]["scripts"]["asd"] == "asdlib.cli:main"
    from asdlib.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"synth", "summary", "evaluate", "bench"} <= set(commands)
