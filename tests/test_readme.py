"""The README's promises that can drift: CI runs its exact commands, and the
hotkeys and commands it documents are the ones that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fresh_machine_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_ci_runs_exactly_the_readme_commands() -> None:
    commands = _fresh_machine_commands()
    assert len(commands) == 2
    assert "vivicam demo" in commands[0] and "pytest" in commands[1]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert command in ci, f".ci/run does not run the README's `{command}`"


def test_documented_hotkeys_and_commands_exist() -> None:
    from vivicam.realtime.cli.main import COMMANDS
    from vivicam.realtime.loop import HOTKEYS

    text = (ROOT / "README.md").read_text()
    for key in ("c", "n", "p", "s", "q", "space"):
        assert key in HOTKEYS and f"`{key}`" in text
    for command in COMMANDS:
        assert f"vivicam {command}" in text
