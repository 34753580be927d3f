"""Progress: a live bar on a terminal, timed plain lines elsewhere; a real run under a pty."""
import fcntl
import io
import logging
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
from rich.console import Console

from tests.conftest import write_idx_source
from wgan_lab import progress as progress_module
from wgan_lab.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", fake)
    return fake


def plain_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=False)


def test_plain_lines_every_interval_with_rate_and_time_left(clock, caplog):
    with caplog.at_level(logging.INFO, logger="wgan_lab.progress"):
        with Progress("job", 200, "steps", interval=30, console=plain_console()) as progress:
            clock.now += 10
            progress.update(50, "loss 1.5")  # 10 s since the start: too early for a line
            assert caplog.messages == []
            clock.now += 30
            progress.update(100)  # 100 steps in 40 s: 2.5 steps/s, 100 left -> 40 s
            progress.update(120)  # 0 s since the last line
    assert caplog.messages == [
        "job: 100/200 steps (50%), 2.5 steps/s, 0:00:40 elapsed, 0:00:40 left; loss 1.5",
        "job: 120/200 steps (60%), 3.0 steps/s, 0:00:40 elapsed, 0:00:27 left; loss 1.5",
    ]


def test_rate_after_a_resume_counts_only_this_runs_work(clock, caplog):
    with caplog.at_level(logging.INFO, logger="wgan_lab.progress"):
        with Progress("job", 1000, "steps", start=600, interval=0,
                      console=plain_console()) as progress:
            clock.now += 20
            progress.update(700)  # 100 steps in 20 s, 300 to go -> 60 s
    assert caplog.messages[0] == "job: 700/1000 steps (70%), 5.0 steps/s, 0:00:20 elapsed, 0:01:00 left"


def test_terminal_gets_a_bar_and_no_log_lines(caplog):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150)
    with caplog.at_level(logging.INFO, logger="wgan_lab.progress"):
        with Progress("job", 10, "steps", interval=0, console=console) as progress:
            assert progress.live
            for step in range(1, 11):
                progress.update(step, f"loss {step}")
    assert caplog.messages == []
    text = out.getvalue()
    assert "job" in text and "10/10" in text and "━" in text and "loss 10" in text


def run_in_terminal(args, cwd, env, columns=200) -> str:
    """``args`` with a pseudo-terminal as stdin, stdout and stderr; everything it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, columns, 0, 0))
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0, b"".join(chunks)[-3000:].decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_a_run_on_a_terminal_draws_bars_and_prints_no_gpu_alarm(kedro_project):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=400, n_test=40)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "NO_COLOR")}
    env.update(TERM="xterm-256color", DO_NOT_TRACK="1")
    out = run_in_terminal([sys.executable, "-m", "kedro", "run", "--pipelines=wgan", "--env=quick",
                           "--params=wgan.training.schedule.steps=100"], kedro_project, env)
    for bar in ("Domain classifier training", "wgan training", "Evaluation"):
        assert any(bar in line and "━" in line for line in out.splitlines()), bar
    assert "100/100" in out and "left" in out
    # The plain lines are for non-terminals only.
    assert "wgan training: 100/100 steps" not in out
    assert "cuInit" not in out and "Could not find cuda drivers" not in out
    assert "Devices: CPU" in out
