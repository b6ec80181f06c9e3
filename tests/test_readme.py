"""The README as a new user reads it: its Python blocks run in order in one session,
and its mir-fast commands run in order in a fresh folder (the long runs on the real
data sets, the installs and the developer's commands aside: CI does those)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: Commands that run for minutes or need a cluster / a second checkout: not here.
LONG = ("--dataset mnist17", "--dataset fashion")


def blocks(language):
    text = README.read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_python_blocks_run_in_order(tmp_path):
    code = "\n\n".join(blocks("python"))
    assert "major_influence_range(X, y" in code and "flip_robustness" in code
    code += "\nif 'client' in globals():\n    client.close()\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _commands():
    for block in blocks("bash"):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command.startswith("mir-fast ") and not any(flag in command for flag in LONG):
                yield command


def test_the_readme_commands_run_in_order(tmp_path):
    commands = list(_commands())
    assert commands[0] == "mir-fast example-data" and len(commands) >= 7
    for command in commands:
        argv = [sys.executable, "-m", "mir_fast", *shlex.split(command)[1:], "--quiet"] \
            if "reproduce" not in command else \
            [sys.executable, "-m", "mir_fast", *shlex.split(command)[1:], "--no-progress"]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
        assert done.returncode == 0, (command, done.stderr[-2000:])
    assert (tmp_path / "robustness.png").exists() and (tmp_path / "poisoned.json").exists()


@pytest.mark.parametrize("command", ["score", "attack", "audit", "impact", "robustness"])
def test_every_command_of_the_cli_is_in_the_readme(command):
    assert any(c.startswith(f"mir-fast {command} ") for c in _commands())
