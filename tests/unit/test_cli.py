"""The command line: the simulator's own options pass through `prescientd sim`; `report`
without a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


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


def test_report_without_a_database_says_which_command_creates_it(tmp_path: Path) -> None:
    """`prescientd report` on a missing database: exit 1, one line naming the commands, with the
    same --config, and no file created."""
    config = tmp_path / "p.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path}/data"\ndb_path = "{tmp_path}/p.db"\n')
    done = subprocess.run(
        [sys.executable, "-m", "prescientd", "report", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"prescientd once cycle --config {config}" in done.stderr
    assert not (tmp_path / "p.db").exists()
