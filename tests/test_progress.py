"""The epoch's progress display (protocols.progress): a bar on a terminal, timed lines in a log."""

import io

from protocols import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_one_bar_that_counts_samples():
    screen = Terminal()
    with progress.EpochProgress("epoch 2/5", 400, screen) as show:
        for fraction in (0.0, 0.25, 0.5, 1.0):
            show(fraction)
    frames = [frame for frame in screen.getvalue().split("\r") if frame.strip()]
    assert frames[0].startswith("epoch 2/5:   0%") and "0/400" in frames[0]
    assert any("400/400" in frame and "sample/s" in frame for frame in frames)
    assert "\n" not in screen.getvalue(), "the bar is redrawn in place and removed at the end"


def test_a_log_gets_a_line_per_period_and_none_at_the_end(monkeypatch):
    log = io.StringIO()
    clock = iter([0.0, 0.0, 30.0, 61.0, 90.0, 130.0, 200.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with progress.EpochProgress("epoch 1/1", 1000, log) as show:  # started at 0 s
        for fraction in (0.0, 0.1, 0.3, 0.4, 0.6, 1.0):  # at 0, 30, 61, 90, 130, 200 s
            show(fraction)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2, lines  # at 61 s and 130 s; the epoch's own line follows the end
    assert lines[0].startswith("epoch 1/1:  30%") and "300/1000" in lines[0] and "01:01" in lines[0]
    assert "600/1000" in lines[1]
