"""The story's branches: the generation log grouped by the point of each request."""

from __future__ import annotations

from pathlib import Path

from writer.engine.types import Candidate, TokenChoice, TokenLogprobs
from writer.store import DraftStore


def test_branch_points_group_requests_by_point_and_find_it_again(tmp_path: Path) -> None:
    store = DraftStore.open(tmp_path / "writer.db")
    try:
        d = store.create_draft("t", "The fox")
        ask = lambda tail, texts, mode="continue": store.generations.log(  # noqa: E731
            d.id, mode, {}, 1, "m", [{"text": t} for t in texts], prompt_tail=tail
        )
        a = ask("The fox", [" ran", " slept"])
        ask("The fox ran", [" away.", " home."])
        b = ask("The fox", [" sang"])  # again at the first point
        ask("The fox ran", ["Idea"], mode="ideas")  # plot ideas are not branches
        points = store.generations.branch_points(d.id)
        assert [p.prompt_tail for p in points] == ["The fox", "The fox ran"]
        assert [r.id for r in points[0].requests] == [b, a]  # newest first
        text = "Title\nThe fox ran away."
        assert points[0].locate(text) == len("Title\nThe fox")
        assert points[1].locate(text) == len("Title\nThe fox ran")
        assert points[1].locate("A wolf") is None
    finally:
        store.close()


def test_logged_candidates_leave_out_token_probabilities(tmp_path: Path) -> None:
    store = DraftStore.open(tmp_path / "writer.db")
    try:
        d = store.create_draft("t")
        tok = TokenLogprobs(5, " x", -0.1, -0.2, (TokenChoice(5, " x", -0.1, -0.2),))
        cand = Candidate(" x", 1, -0.1, 1, token_ids=(5,), token_logprobs=(tok,))
        store.generations.log(d.id, "continue", {}, 1, "m", [cand], prompt_tail="a")
        logged = store.generations.recent(d.id)[0].candidates[0]
        assert logged["text"] == " x" and "token_logprobs" not in logged
    finally:
        store.close()
