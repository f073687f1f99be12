"""Every engine writer can drive satisfies one contract: writer.engine.types.Engine."""

from __future__ import annotations

from tests.ui.test_app_support import ScriptedEngine
from writer.engine.types import CandidateDone, Engine, GenerationDone, TokenDelta
from writer.presets import DEFAULT_PRESET, all_presets


def _check(engine) -> None:
    assert isinstance(engine, Engine)
    params = all_presets()[DEFAULT_PRESET].params.replace(max_new_tokens=3)
    events = list(engine.stream("Once upon a time", params, n=2, seed=5))
    assert all(isinstance(e, TokenDelta | CandidateDone | GenerationDone) for e in events)
    done = events[-1]
    assert isinstance(done, GenerationDone) and len(done.candidates) == 2
    assert [c.seed for c in done.candidates] == [5, 6]
    assert len(engine.generate("Once upon a time", params, n=1, seed=5)) == 1
    assert 1 <= 2 <= engine.max_candidates
    if not getattr(engine, "supports_token_logprobs", True):
        return  # an engine without per-token data or next-token lists
    # per-token data: one entry per token, its texts adding up to the candidate's
    cands = engine.generate("Once upon a time", params, n=2, seed=5, logprobs=3)
    for cand in cands:
        assert len(cand.token_logprobs) == cand.tokens
        assert "".join(t.text for t in cand.token_logprobs) == cand.text
        assert all(len(t.top) == 3 for t in cand.token_logprobs)
    choices = engine.next_tokens("Once upon a time", params, 4)
    assert len(choices) == 4
    assert [c.logprob for c in choices] == sorted((c.logprob for c in choices), reverse=True)


def test_scripted_engine_keeps_the_contract() -> None:
    _check(ScriptedEngine(tokens=3))


def test_local_gpt2_engine_keeps_the_contract(tiny_engine) -> None:
    _check(tiny_engine)
