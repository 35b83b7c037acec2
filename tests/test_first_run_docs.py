"""A newcomer's first files: .env.example names every setting with a comment, and every
`python -m bot …` line of the README runs as written after `make run` (the venv's Python)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_has_every_setting_each_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    named = {m.group(1): i for i, line in enumerate(lines) if (m := re.match(r"# ([A-Z_]+)=", line))}
    assert set(named) == {name.upper() for name in Settings.model_fields}
    variable = re.compile(r"# [A-Z_]+=")
    for name, index in named.items():
        above = index - 1
        while variable.match(lines[above]):  # a group of variables shares one comment
            above -= 1
        assert lines[above].startswith("# ") and not lines[above].startswith("# ---"), f"{name}: no comment"


def test_every_python_m_bot_line_in_the_readme_runs_with_the_venv_python(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"`([^`]*python -m bot[^`]*)`", readme)
    assert commands
    for command in commands:
        assert command.startswith(".venv/bin/python -m bot "), command
        args = command.removeprefix(".venv/bin/python -m bot ").split()
        if args == ["…"] or args[0] == "serve":  # serve runs until stopped (tests/test_config_and_cli.py)
            continue
        done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, (command, done.stdout[-500:], done.stderr[-500:])


def test_make_manifest_prints_and_never_overwrites_the_committed_file_silently(tmp_path: Path) -> None:
    """``make manifest`` prints; only ``make manifest-file`` writes the file, and says so."""
    import shutil

    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "stamp").write_text("")  # newer than pyproject.toml: the venv counts as installed
    committed = tmp_path / "slack-app-manifest.json"
    committed.write_text('{"edited": "by hand"}\n')
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}

    def make(target: str) -> str:
        done = subprocess.run(["make", "-s", target, f"PY={sys.executable}", "STAMP=stamp"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    printed = make("manifest")
    assert '"socket_mode_enabled": true' in printed
    assert committed.read_text() == '{"edited": "by hand"}\n', "make manifest changed the committed file"
    said = make("manifest-file")
    assert "rewritten" in said and committed.read_text() == printed
    assert "already up to date" in make("manifest-file")
