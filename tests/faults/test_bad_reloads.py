"""SIGHUP with an empty file, a FIFO and quoted values: each rejected in one line while the
daemon keeps polling on its old config; a good file is still applied; SIGTERM stays prompt."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from e2e.conftest import DaemonProcess, Setup, SimProcess

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


@pytest.mark.timeout(90)
def test_bad_reloads_keep_the_running_config(
    sim: SimProcess,
    setup_factory: Callable[..., Setup],
    daemon_factory: Callable[[Setup], DaemonProcess],
) -> None:
    """Empty file, FIFO, quoted numbers: rejected, polls go on; then a good file applies."""
    setup = setup_factory(sim.url, schedule={"poll_interval_s": 1})
    good_text = setup.config_path.read_text()
    daemon = daemon_factory(setup)
    daemon.wait_for("job_finished", 30, job="poll", outcome="ok")
    rejected = 0

    def reload_rejected(why: str) -> dict[str, object]:
        nonlocal rejected
        rejected += 1
        daemon.send(signal.SIGHUP)
        line = daemon.wait_for("config_reload_rejected", 10, count=rejected)
        assert why in str(line["detail"]) and "\n" not in str(line["detail"]), line
        # still polling, on the old version
        polls = len(daemon.events("job_finished", job="poll", outcome="ok"))
        daemon.wait_for("job_finished", 10, count=polls + 1, job="poll", outcome="ok")
        return line

    setup.write_text("# an editor saved an empty buffer\n")
    reload_rejected("empty")

    setup.config_path.unlink()
    os.mkfifo(setup.config_path)
    reload_rejected("not a regular file")

    setup.config_path.unlink()  # the FIFO
    setup.write_text(good_text.replace("poll_interval_s = 1\n", 'poll_interval_s = "1"\n'))
    reload_rejected("schedule.poll_interval_s")

    assert daemon.events("config_reloaded") == []
    setup.write_text(good_text.replace("threshold = 0.5", "threshold = 0.6"))
    daemon.send(signal.SIGHUP)
    applied = daemon.wait_for("config_reloaded", 10)
    assert applied["changed"] == {"strategy.threshold": ["0.5", "0.6"]}

    code, took_s = daemon.terminate_and_wait()
    assert code == 0 and took_s < 10, daemon.stderr_path.read_text()
