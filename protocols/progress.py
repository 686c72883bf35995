"""Progress of an epoch on the console: a live tqdm bar on a terminal, plain lines in a log file.

The compiled program reports the fraction of its run that is simulated (``models.training.REPORT_CODE``,
about once a second of wall time); :class:`EpochProgress` turns it into samples done, samples/s and time
left. Written to a terminal it is one bar that is redrawn in place and removed when the epoch ends (the
epoch's summary line follows it); written to a file (``protocols.sweep`` sends each run's output to its
log) it is a line every ``LOG_PERIOD`` seconds, so that the log shows how far a run has come.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

LOG_PERIOD = 60.0  # seconds between two progress lines in a log file


class EpochProgress:
    """``progress(fraction)`` for one run of ``total`` samples; use as a context manager."""

    def __init__(self, description: str, total: int, stream=None):
        self.description, self.total = description, total
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.bar = None
        self.start = time.perf_counter()
        self.last_line = self.start

    def __enter__(self):
        if self.live:
            self.bar = tqdm(
                total=self.total,
                desc=self.description,
                unit="sample",
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
                mininterval=0,  # redrawn at each report (about one a second)
            )
        return self

    def __call__(self, fraction: float) -> None:
        done = min(self.total, max(0, round(fraction * self.total)))
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        now = time.perf_counter()
        if now - self.last_line >= LOG_PERIOD and done < self.total:
            self.last_line = now
            meter = tqdm.format_meter(done, self.total, now - self.start, prefix=self.description, unit="sample")
            print(meter, file=self.stream, flush=True)

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.close()
        return False
