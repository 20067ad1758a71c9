"""The command line: the simulator's own options pass through `prescientd sim`."""

from __future__ import annotations

import subprocess
import sys


def test_sim_subcommand_passes_its_options_through() -> None:
    """`prescientd sim --help` shows the simulator's options (not an argparse error)."""
    done = subprocess.run(
        [sys.executable, "-m", "prescientd", "sim", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--seed" in done.stdout and "--events" in done.stdout


def test_sim_refuses_a_non_loopback_address() -> None:
    """The simulator never listens beyond loopback."""
    done = subprocess.run(
        [sys.executable, "-m", "prescientd", "sim", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
