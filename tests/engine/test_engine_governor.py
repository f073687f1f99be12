"""The thread governor reading the kernel's counts (engine/gpt2/contention.py): it starts a
request on the cores other programs left, drops a thread when its threads wait for a core,
and gives them back when the others stop."""

from __future__ import annotations

import sys

import pytest
import torch

from writer.engine.gpt2.backends import ThreadGovernor
from writer.engine.gpt2.contention import CpuProbe, Sample


class _ScriptedProbe(CpuProbe):
    """A probe on two cores whose readings advance as the test says."""

    def __init__(self) -> None:
        super().__init__({0, 1})
        self.tick = 0.01
        self.now = Sample(0.0, 0, 0, 0)

    def advance(self, seconds: float, others: float, own: float, waited: float) -> None:
        """`seconds` pass; other processes use `others` cores, this one `own` cores, and its
        threads wait `waited` seconds in all."""
        n = self.now
        own_ticks = round(own * seconds / self.tick)
        busy = round(others * seconds / self.tick) + own_ticks
        self.now = Sample(
            n.at + seconds,
            n.busy_ticks + busy,
            n.own_ticks + own_ticks,
            n.waited_ns + round(waited * 1e9),
        )

    def sample(self) -> Sample:
        return self.now


@pytest.fixture
def two_threads():
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(saved)


def test_a_request_starts_on_the_core_another_program_left(two_threads) -> None:
    probe = _ScriptedProbe()
    governor = ThreadGovernor(probe=probe)
    probe.advance(2.0, others=0.05, own=0.0, waited=0.0)  # the author typing; machine quiet
    governor.begin()
    assert torch.get_num_threads() == 2 and governor.drops == 0
    governor.end()
    probe.advance(2.0, others=1.0, own=0.0, waited=0.0)  # a build took a core meanwhile
    governor.begin()
    assert torch.get_num_threads() == 1 and governor.drops == 1
    governor.end()  # what runs next gets every thread back
    assert torch.get_num_threads() == 2


def test_a_starved_prompt_piece_moves_the_rest_to_one_thread(two_threads) -> None:
    probe = _ScriptedProbe()
    governor = ThreadGovernor(probe=probe)
    governor.begin()
    governor.before_piece()
    probe.advance(0.05, others=0.0, own=2.0, waited=0.001)  # quiet: 1% of thread time
    governor.after_piece(2, 0.05)
    assert torch.get_num_threads() == 2
    governor.before_piece()
    probe.advance(0.12, others=0.8, own=1.2, waited=0.1)  # 42% waiting for a core
    governor.after_piece(2, 0.12)
    assert torch.get_num_threads() == 1 and governor.drops == 1


def test_decode_steps_drop_a_thread_and_take_it_back_when_the_core_is_free(two_threads) -> None:
    probe = _ScriptedProbe()
    governor = ThreadGovernor(probe=probe)
    governor.begin()
    seen = []

    def steps(count: int, others: float, waited_share: float) -> None:
        for step in range(count):
            threads = governor.before_step(4, step)
            seen.append(threads)
            probe.advance(0.03, others, threads * (1 - waited_share), waited_share * 0.03 * threads)
            governor.after_step(4, threads, 0.03)

    steps(24, others=0.0, waited_share=0.0)
    assert seen == [2] * 24  # quiet: no probe steps on one thread at all
    seen.clear()
    steps(16, others=0.9, waited_share=0.4)
    assert seen[: ThreadGovernor.CHECK_EVERY] == [2] * ThreadGovernor.CHECK_EVERY
    assert seen[-1] == 1 and governor.drops == 1
    seen.clear()
    steps(24, others=1.0, waited_share=0.02)  # still busy: stays on one
    assert seen == [1] * 24
    seen.clear()
    steps(24, others=0.0, waited_share=0.0)  # the other program ended
    assert seen[-8:] == [2] * 8 and torch.get_num_threads() == 2


def test_the_governor_is_off_when_disabled_or_on_one_thread(two_threads) -> None:
    probe = _ScriptedProbe()
    torch.set_num_threads(1)
    governor = ThreadGovernor(probe=probe)
    probe.advance(2.0, others=1.0, own=0.0, waited=0.0)
    governor.begin()
    assert torch.get_num_threads() == 1 and governor.drops == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_the_probe_reads_this_machine() -> None:
    probe = CpuProbe.create()
    assert probe is not None and probe.cores
    first = probe.sample()
    x = torch.randn(300, 300)
    while probe.sample().at - first.at < 0.25:
        x = x @ x / 300  # this process's own work is not "others"
    now = probe.sample()
    assert now.own_ticks >= first.own_ticks and now.waited_ns >= first.waited_ns
    others = probe.others(first, now)
    assert others is not None and 0.0 <= others <= len(probe.cores)
    waited = CpuProbe.waiting(first, now, 1)
    assert waited is not None and waited >= 0.0
    assert probe.others(now, now) is None  # too short to tell
