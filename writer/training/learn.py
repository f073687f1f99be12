"""Learn the author's taste: DPO on the candidates they picked over the ones they passed over.

`learn(pairs, options)` holds out a share of the pairs, measures the base model on them
(writer.training.preference_metrics), trains with TRL's DPOTrainer (writer.training.dpo),
measures again and saves `models_dir()/NAME/` exactly as `writer finetune` does
(writer.training.tuned): a LoRA adapter on the base, or a whole model for models under 50M
parameters (the same "auto" rule), so `--model NAME` works everywhere.

Training can be stopped between steps (`should_stop`, Ctrl+C in the command): the state goes to
`data_dir()/checkpoints/NAME/` (the run's settings and "before" report in `learn.json`, the
trainer's checkpoint beside it) and `resume=True` continues it on the same pairs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from writer.engine.models import check_model_name, load_model_and_tokenizer
from writer.engine.types import MAX_SEED
from writer.errors import WriterError
from writer.training import checkpoint as ckpt
from writer.training.dpo import LearnProgress, TrainSettings, require_trl, tokenize_pairs
from writer.training.evaluate import model_context
from writer.training.finetune import AUTO_LORA_MIN_PARAMS, LORA_TARGETS, METHODS, _base_location
from writer.training.pairs import PairCounts, PreferencePair, fingerprint, split_pairs
from writer.training.tuned import save_tuned_model

STATE = "learn.json"
# DPO moves a model with small steps: LoRA's usual 5e-4 here, 5e-6 for a whole GPT-2, and
# 3e-4 for toy models (under AUTO_LORA_MIN_PARAMS), which learn nothing at a whole GPT-2's rate;
# at 1e-3 the perplexity of the author's own text rose 13% (with the NLL term; 68% without)
# in bench.learn_taste's 20 steps, at 3e-4 3%.
DEFAULT_LR = {"lora": 5e-4, "full": 5e-6, "full-small": 3e-4}
DEFAULT_BETA = 0.1
DEFAULT_EPOCHS = 3.0
# The NLL of the chosen completions, weighted so, is added to the DPO loss (TRL's "sft" loss
# type): plain DPO may lower the chosen text's likelihood too, as long as the rejected one falls
# further, and the model drifts from the author's own text (measured in bench.learn_taste).
DEFAULT_SFT_WEIGHT = 1.0
MAX_LENGTH = 512  # tokens of prompt + completion per sequence (less if the context is shorter)


@dataclass
class LearnOptions:
    """What to learn. None means "the default" (or, when resuming, "what the run used")."""

    name: str
    base: str | None = None
    method: str | None = None
    steps: int | None = None
    epochs: float | None = None
    beta: float | None = None
    lr: float | None = None
    holdout: float | None = None
    batch_size: int | None = None
    seed: int | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    device: str | None = None
    sft_weight: float | None = None


@dataclass
class LearnResult:
    name: str
    folder: Path
    manifest: dict[str, Any]
    report: dict[str, Any]


@dataclass
class LearnInterrupted(Exception):
    """Training stopped on request; `checkpoint` is None when nothing was saved."""

    name: str
    step: int = 0
    total_steps: int = 0
    checkpoint: Path | None = None

    def __str__(self) -> str:
        if self.checkpoint is None:
            return "interrupted before training started; nothing was saved"
        return (
            f"interrupted at step {self.step}/{self.total_steps}; checkpoint in {self.checkpoint}"
        )


def validate_options(options: LearnOptions) -> None:
    """Reject bad values with a one-line error naming the flag (before anything is loaded)."""
    check_model_name(options.name)
    if options.seed is not None and not 0 <= options.seed <= MAX_SEED:
        raise WriterError(f"--seed must be a whole number from 0 to {MAX_SEED}; got {options.seed}")
    if options.method is not None and options.method not in METHODS:
        raise WriterError(f"--method must be one of {', '.join(METHODS)}; got {options.method!r}")
    if options.steps is not None and options.epochs is not None:
        raise WriterError("give --steps or --epochs, not both")
    for flag, value in (
        ("--steps", options.steps),
        ("--batch-size", options.batch_size),
        ("--lora-r", options.lora_r),
        ("--lora-alpha", options.lora_alpha),
    ):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise WriterError(f"{flag} must be a whole number of at least 1; got {value!r}")
    for flag, value in (
        ("--epochs", options.epochs),
        ("--beta", options.beta),
        ("--lr", options.lr),
    ):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise WriterError(f"{flag} must be a number above 0; got {value!r}")
    if options.sft_weight is not None and not (
        options.sft_weight >= 0 and math.isfinite(options.sft_weight)
    ):
        raise WriterError(
            f"--sft-weight must be a number of at least 0; got {options.sft_weight!r}"
        )
    if options.holdout is not None and not 0 < options.holdout < 0.5:
        raise WriterError(f"--holdout must be above 0 and below 0.5; got {options.holdout}")


def _state_path(name: str) -> Path:
    return ckpt.folder(name) / STATE


def has_checkpoint(name: str) -> bool:
    """Whether an interrupted learn run of `name` can be resumed."""
    return _state_path(name).is_file()


def resumable_with(name: str, pairs: Sequence[PreferencePair]) -> bool:
    """Whether an interrupted learn run of `name` exists and was on exactly these pairs."""
    if not has_checkpoint(name):
        return False
    try:
        return _load_state(name).get("fingerprint") == fingerprint(pairs)
    except WriterError:
        return False


def _load_state(name: str) -> dict[str, Any]:
    try:
        return json.loads(_state_path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WriterError(
            f"no interrupted learn run of {name!r} to resume; run without --resume to start one"
        ) from None
    except (OSError, ValueError) as exc:
        raise WriterError(
            f"the checkpoint of {name!r} cannot be read ({type(exc).__name__}); start over "
            "with --overwrite"
        ) from None


def _save_state(name: str, state: dict[str, Any]) -> None:
    where = ckpt.folder(name)
    where.mkdir(parents=True, exist_ok=True)
    temp = where / (STATE + ".tmp")
    temp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, where / STATE)


def _resolve(options: LearnOptions, saved: dict[str, Any] | None) -> LearnOptions:
    """Fill defaults; when resuming, take the run's values and refuse conflicting flags."""
    defaults = {
        "base": "gpt2",
        "method": "auto",
        "beta": DEFAULT_BETA,
        "holdout": 0.1,
        "batch_size": 8,
        "seed": 0,
        "lora_r": 8,
        "lora_alpha": 16,
        "sft_weight": DEFAULT_SFT_WEIGHT,
    }
    resolved = ckpt.resolve_options(options, saved, defaults)
    if resolved.sft_weight is None:  # a run interrupted before the option existed: plain DPO
        resolved.sft_weight = 0.0
    return resolved


def _check_target(name: str, resume: bool, overwrite: bool) -> dict[str, Any] | None:
    """The saved state when resuming; errors when NAME is taken or a run is pending."""
    from writer.paths import models_dir

    saved = None
    if resume:
        saved = _load_state(name)
        overwrite = overwrite or bool(saved.get("overwrite"))
    elif ckpt.exists(name) and not overwrite:
        raise WriterError(
            f"an interrupted fine-tune of {name!r} exists; pick another --name, or pass "
            "--overwrite to discard it"
        )
    elif has_checkpoint(name) or ckpt.exists(name):
        if not overwrite:
            raise WriterError(
                f"an interrupted learn run of {name!r} exists; continue it with --resume, or "
                "start over with --overwrite"
            )
        ckpt.remove(name)
    target = models_dir() / name
    if target.exists() and not overwrite:
        raise WriterError(
            f"a model named {name!r} already exists in {target.parent}; pick another --name "
            "or pass --overwrite to replace it"
        )
    return saved


def learn(
    pairs: Sequence[PreferencePair],
    options: LearnOptions,
    *,
    counts: PairCounts | None = None,
    resume: bool = False,
    overwrite: bool = False,
    on_status: Callable[[str], None] | None = None,
    on_progress: Callable[[LearnProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stop_after_steps: int | None = None,
    spare_cores: int = 0,
    own_text: Sequence[str] | None = None,
) -> LearnResult:
    """Train `options.name` on `pairs`; see the module docstring.

    `spare_cores`: torch threads this run leaves free (at least one thread remains), for a
    caller that keeps other work going meanwhile (the app: typing and generation).
    `own_text`: the author's text to measure perplexity on before and after (texts the pairs do
    not contain); by default the held-out pairs' prompts.

    Raises WriterError for bad input (before loading the model when it can) and
    LearnInterrupted when `should_stop()` turns true or after `stop_after_steps` steps.
    """
    with _fewer_threads(spare_cores):
        return _learn(
            pairs,
            options,
            counts,
            resume,
            overwrite,
            on_status,
            on_progress,
            should_stop,
            stop_after_steps,
            own_text,
        )


@contextlib.contextmanager
def _fewer_threads(spare: int) -> Any:
    """Torch's threads less `spare` (at least one) for the block, then back."""
    if spare <= 0:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads - spare))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _learn(
    pairs: Sequence[PreferencePair],
    options: LearnOptions,
    counts: PairCounts | None,
    resume: bool,
    overwrite: bool,
    on_status: Callable[[str], None] | None,
    on_progress: Callable[[LearnProgress], None] | None,
    should_stop: Callable[[], bool] | None,
    stop_after_steps: int | None,
    own_text: Sequence[str] | None,
) -> LearnResult:
    """`learn`'s work, its thread count already set."""
    from writer.paths import models_dir
    from writer.training import preference_metrics as metrics

    status = on_status or (lambda _text: None)
    validate_options(options)
    require_trl()
    name = options.name
    if not pairs:
        raise WriterError(
            "no preference pairs: insert candidates in the app (each insertion gives a pair per "
            "candidate passed over), judge with `writer compare`, or give --pairs FILE.jsonl"
        )
    saved = _check_target(name, resume, overwrite)
    overwrite = overwrite or bool(saved and saved.get("overwrite"))
    opts = _resolve(options, saved["options"] if saved else None)
    digest = fingerprint(pairs)
    if saved is not None and saved["fingerprint"] != digest:
        raise WriterError(
            f"the pairs differ from the interrupted run of {name!r}; resume with the same "
            "pairs, or start over with --overwrite"
        )
    train_pairs, held_pairs = split_pairs(pairs, opts.holdout, opts.seed)

    model, tokenizer, source = load_model_and_tokenizer(opts.base, device=opts.device)
    params = sum(p.numel() for p in model.parameters())
    method = (
        opts.method
        if opts.method != "auto"
        else ("lora" if params >= AUTO_LORA_MIN_PARAMS else "full")
    )
    if method == "lora" and source.kind == "finetuned":
        raise WriterError(
            f"LoRA needs a base model, and {opts.base!r} is fine-tuned; use --method full or "
            "its base"
        )
    if opts.lr is None:
        small = method == "full" and params < AUTO_LORA_MIN_PARAMS
        opts.lr = DEFAULT_LR["full-small" if small else method]
    max_length = min(MAX_LENGTH, model_context(model))
    train = tokenize_pairs(tokenizer, train_pairs, max_length)
    held = tokenize_pairs(tokenizer, held_pairs, max_length)
    if not train or not held:
        raise WriterError("every pair has an empty completion once encoded; check the pairs")
    own_label = "given" if own_text is not None else "held-out prompts"
    own_windows = metrics.text_windows(
        tokenizer, own_text if own_text is not None else [p.prompt for p in held_pairs], max_length
    )
    micro = min(opts.batch_size, 2 if max_length > 128 else 4)
    if opts.steps is None:
        epochs = opts.epochs if opts.epochs is not None else DEFAULT_EPOCHS
        opts.steps = max(1, math.ceil(epochs * len(train) / opts.batch_size))
    device = str(next(model.parameters()).device)

    if saved is not None:
        before = saved["before"]
        base_scores = [metrics.PairScores(*row) for row in saved["base_scores"]]
    else:
        status(f"measuring {opts.base} on {len(held)} held-out pair(s)")
        base_scores = metrics.score(model, held)
        own_before = (own_label, *metrics.text_nll(model, own_windows))
        before = metrics.report(base_scores, base_scores, opts.beta, 0.0, own_before).as_dict()
        _save_state(
            name,
            {
                "options": dataclasses.asdict(opts),
                "fingerprint": digest,
                "before": before,
                "base_scores": [dataclasses.astuple(s) for s in base_scores],
                "overwrite": overwrite,
            },
        )
    if should_stop is not None and should_stop():
        raise LearnInterrupted(name, 0, opts.steps, ckpt.folder(name))

    import torch

    torch.manual_seed(opts.seed)
    peft_config = ref_model = None
    if method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=opts.lora_r,
            lora_alpha=opts.lora_alpha,
            lora_dropout=0.05,
            target_modules=LORA_TARGETS,
            fan_in_fan_out=True,  # GPT-2's Conv1D stores weights transposed
            task_type="CAUSAL_LM",
        )
    else:  # a whole model moves: the reference is a frozen copy (models this size only)
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    settings = TrainSettings(
        beta=opts.beta,
        lr=opts.lr,
        steps=opts.steps,
        epochs=None,
        batch_size=opts.batch_size,
        micro_batch_size=micro,
        seed=opts.seed,
        device=device,
        sft_weight=opts.sft_weight,
    )
    from writer.training.dpo import train_dpo

    status(
        f"learning ({method}, DPO beta {opts.beta:g}, NLL weight {opts.sft_weight:g}) from "
        f"{len(train)} pair(s): {opts.steps} steps of {opts.batch_size}, lr {opts.lr:g}"
    )
    resuming = saved is not None and any(ckpt.folder(name).glob("trainer/checkpoint-*"))
    train_start = time.monotonic()
    model, step, total, stopped = train_dpo(
        model,
        tokenizer,
        train,
        settings,
        ckpt.folder(name) / "trainer",
        peft_config=peft_config,
        ref_model=ref_model,
        resume=resuming,
        on_progress=on_progress,
        should_stop=should_stop,
        stop_after_steps=stop_after_steps,
    )
    train_seconds = round(time.monotonic() - train_start, 2)
    if stopped:
        raise LearnInterrupted(name, step, total, ckpt.folder(name))

    status("measuring the learned model on the held-out pairs")
    if method == "lora":
        reference = _adapter_off(model)
    else:
        reference = lambda: contextlib.nullcontext(ref_model)  # noqa: E731
    kl = metrics.kl_to_reference(model, reference, held)
    own_after = (own_label, *metrics.text_nll(model, own_windows))
    after = metrics.report(
        metrics.score(model, held), base_scores, opts.beta, kl, own_after
    ).as_dict()
    counts = counts or PairCounts()
    report = {
        "name": name,
        "base": opts.base,
        "method": method,
        "pairs": {**counts.as_dict(), "train": len(train), "held_out": len(held)},
        "steps": total,
        "beta": opts.beta,
        "lr": opts.lr,
        "sft_weight": opts.sft_weight,
        "train_seconds": train_seconds,
        "before": before,
        "after": after,
    }
    manifest = {
        "name": name,
        "base": _base_location(source),
        "method": method,
        "trained_with": "dpo",
        "pairs_fingerprint": digest,
        "pairs": len(pairs),
        "steps": total,
        "beta": opts.beta,
        "lr": opts.lr,
        "sft_weight": opts.sft_weight,
        "seed": opts.seed,
        "batch_size": opts.batch_size,
        "preference_before": before,
        "preference_after": after,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if method == "lora":
        manifest.update(lora_r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_targets=LORA_TARGETS)
    target = models_dir() / name
    save_tuned_model(target, model, tokenizer, method, manifest)
    ckpt.remove(name)
    return LearnResult(name, target, manifest, report)


def _adapter_off(model: Any) -> Callable[[], Any]:
    """A context manager factory: `model` itself, with its LoRA adapter disabled."""

    @contextlib.contextmanager
    def off() -> Any:
        with model.disable_adapter():
            yield model

    return off
