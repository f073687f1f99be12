"""What other programs take from this process's cores, read from Linux's /proc.

Why: torch's thread pool collapses when another program takes a core: every parallel region
waits for the thread that has none. Timing steps against a yardstick (the thread governor's
first way) sees that only once it has a yardstick, which a fresh process's first prompt does
not, and not when one thread is slowed as much as two (a neighbour copying memory). The kernel
counts the cause itself: how long this process's threads sat runnable without a core
(`/proc/self/task/*/schedstat`, nanoseconds), and how much CPU other processes used on the
cores this process may run on (`/proc/stat` minus this process's own `/proc/self/stat`).
Measured on a 2-core AMD EPYC (matrix products, 2 threads): quiet, 0% of thread time waiting
and 0.04 cores used by others; beside a busy loop on one core, 42% waiting and 0.84 cores;
beside a memory-copy loop, 37% and 0.74. With one thread, 4% waiting under either.

No library reads these (psutil gives per-process CPU times but neither the run-queue wait nor
per-core idle for an affinity set in one call), and each read is two to a dozen small files.
Where /proc is missing (not Linux), `CpuProbe.create()` is None and the governor times steps.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One reading: when, the busy ticks of the allowed cores, this process's own ticks, and
    the nanoseconds its threads have waited for a core."""

    at: float
    busy_ticks: int
    own_ticks: int
    waited_ns: int


class CpuProbe:
    """Readings of /proc for this process; `others` and `waiting` compare two of them."""

    def __init__(self, cores: set[int]) -> None:
        self.cores = cores
        self.tick = 1.0 / os.sysconf("SC_CLK_TCK")

    @classmethod
    def create(cls) -> CpuProbe | None:
        """A probe, or None where /proc cannot be read as Linux writes it."""
        try:
            probe = cls(set(os.sched_getaffinity(0)))
            probe.sample()
        except (AttributeError, OSError, ValueError, IndexError):
            return None
        return probe

    def sample(self) -> Sample:
        busy = 0
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if not line.startswith("cpu"):
                    break
                name, *fields = line.split()
                if name == "cpu" or int(name[3:]) not in self.cores:
                    continue
                values = [int(v) for v in fields]
                busy += sum(values[:8]) - values[3] - values[4]  # all but idle and iowait
        with open("/proc/self/stat", encoding="ascii") as f:
            own_fields = f.read().rsplit(")", 1)[1].split()
        own = int(own_fields[11]) + int(own_fields[12])  # utime + stime, every thread
        waited = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/schedstat", encoding="ascii") as f:
                    waited += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):  # a thread that just ended
                continue
        return Sample(time.monotonic(), busy, own, waited)

    def others(self, since: Sample, now: Sample) -> float | None:
        """Cores' worth of CPU other processes used between the samples (None: too short a
        time to tell at the kernel's tick)."""
        seconds = now.at - since.at
        if seconds < 0.2:
            return None
        ticks = (now.busy_ticks - since.busy_ticks) - (now.own_ticks - since.own_ticks)
        return max(0.0, ticks * self.tick / seconds)

    @staticmethod
    def waiting(since: Sample, now: Sample, threads: int) -> float | None:
        """The share of `threads` threads' time spent runnable without a core."""
        seconds = now.at - since.at
        if seconds <= 0 or threads <= 0:
            return None
        return (now.waited_ns - since.waited_ns) / 1e9 / (seconds * threads)
