"""Property tests (hypothesis) of revision coalescing and retention."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writer.config import Config
from writer.store import DraftStore
from writer.store.revisions import (
    LARGE_LOSS_CHARS,
    common_prefix_len,
    lost_chars,
    revisions_to_prune,
    snapshot_due,
)

reasons = st.sampled_from(["auto", "auto", "auto", "insert", "restore", "import"])
histories = st.lists(reasons, max_size=60).map(lambda rs: list(enumerate(rs, start=1)))


@given(histories, st.integers(min_value=1, max_value=40))
def test_retention_keeps_exactly_keep_and_prunes_oldest_autos_first(history, keep) -> None:
    pruned = revisions_to_prune(history, keep)
    kept = [(rid, reason) for rid, reason in history if rid not in set(pruned)]
    assert len(pruned) == len(set(pruned))
    assert set(pruned) <= {rid for rid, _ in history}
    assert len(kept) == min(len(history), keep)
    if history:
        assert kept[-1] == history[-1]  # the newest revision always survives
    pruned_reasons = [reason for rid, reason in history if rid in set(pruned)]
    if any(reason != "auto" for reason in pruned_reasons):
        # An explicit revision goes only once no older-than-newest auto is left to prune.
        assert all(reason != "auto" for _, reason in kept[:-1])
    kept_autos = [rid for rid, reason in kept if reason == "auto"]
    pruned_autos = [rid for rid, reason in history if rid in set(pruned) and reason == "auto"]
    if kept_autos and pruned_autos:
        assert max(pruned_autos) < min(kept_autos)  # oldest autos first


@given(st.text(max_size=200), st.text(max_size=200))
def test_common_prefix_and_lost_chars_match_their_definitions(a, b) -> None:
    n = common_prefix_len(a, b)
    assert a[:n] == b[:n] and (n == min(len(a), len(b)) or a[n] != b[n])
    lost = lost_chars(a, b)
    assert 0 <= lost <= len(a)
    assert lost_chars(a, a) == 0
    assert lost_chars(a, a + b) == 0  # appending never loses anything
    assert lost_chars(a + b, a) == len(b) or a.endswith(b)


# A session: (seconds since the last save, the new text) pairs.
edits = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=200, allow_nan=False),
        st.one_of(
            st.text(alphabet="ab ", max_size=30),
            st.text(alphabet="xyz ", min_size=150, max_size=250),
            st.just(""),
        ),
    ),
    max_size=40,
)


def simulate(session, interval: float) -> list[tuple[float, str]]:
    """Run the coalescing rule the way the store does; return the revisions (time, text)."""
    now, text, history = 0.0, "", []
    for gap, new_text in session:
        now += gap
        latest = history[-1] if history else None
        if snapshot_due(
            old_text=text,
            new_text=new_text,
            latest_revision_text=latest[1] if latest else None,
            now=now,
            last_boundary=latest[0] if latest else 0.0,
            interval=interval,
        ):
            history.append((now, text))
        text = new_text
    return history


@given(edits, st.floats(min_value=1, max_value=120))
def test_coalescing_bounds_revisions_and_never_drops_a_large_deletion(session, interval) -> None:
    history = simulate(session, interval)
    # No blank revisions and no two identical neighbours.
    assert all(text.strip() for _, text in history)
    assert all(a[1] != b[1] for a, b in zip(history, history[1:], strict=False))
    # Bounded: one per interval of activity, plus one per large deletion.
    total = sum(gap for gap, _ in session)
    large = 0
    text = ""
    for _, new_text in session:
        large += lost_chars(text, new_text) >= LARGE_LOSS_CHARS
        text = new_text
    assert len(history) <= total / interval + 1 + large
    # Every text replaced with a large loss is in history (or was already its latest entry).
    now, text, seen = 0.0, "", []
    revisions = iter(history)
    pending = next(revisions, None)
    for gap, new_text in session:
        now += gap
        while pending is not None and pending[0] <= now and pending[1] == text:
            seen.append(pending[1])
            pending = next(revisions, None)
        if lost_chars(text, new_text) >= LARGE_LOSS_CHARS and text.strip():
            assert seen and seen[-1] == text
        text = new_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits, st.integers(min_value=1, max_value=8))
def test_store_history_stays_bounded_and_ends_with_real_states(tmp_path: Path, session, keep):
    """The same rules through the real store: bounded history, texts that really existed."""
    clock = FakeClock()
    path = tmp_path / f"h{abs(hash((tuple(session), keep)))}.db"
    with DraftStore.open(
        path, config=Config(revision_interval=30, revisions_keep=keep), clock=clock
    ) as store:
        draft = store.create_draft("t")
        written = {""}
        for gap, text in session:
            clock.now += gap
            store.save_text(draft.id, text)
            written.add(text)
        history = [store.get_revision(r.id) for r in store.history(draft.id)]
        assert len(history) <= keep
        assert all(r.text in written for r in history)
        assert store.get_draft(draft.id).text == (session[-1][1] if session else "")
    path.unlink()
