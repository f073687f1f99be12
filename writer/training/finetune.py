"""Fine-tune a GPT-2 on the author's own text: LoRA or full, resumable, with before/after checks.

`finetune(paths, options)` reads the text (writer.training.corpus), holds out its last tenth,
measures perplexity and takes one sample with the base model, trains, measures and samples
again, and saves `models_dir()/NAME/` in the format `writer.engine.models` loads:
the tokenizer at the root, the whole model at the root (method "full") or a peft adapter in
`adapter/` (method "lora"), and `manifest.json` written last, as the "this model is complete"
marker.

Training can be stopped between steps (`should_stop`, wired to Ctrl+C by the command): the
state is saved to `data_dir()/checkpoints/NAME/` and `resume=True` continues exactly (same step,
weights, optimizer, scheduler and every RNG, including the data order), so an interrupted and
resumed run ends with the same weights as an uninterrupted one. Checkpoint helpers live in
writer.training.checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from writer.engine.models import check_model_name, load_model_and_tokenizer
from writer.engine.types import MAX_SEED
from writer.errors import UsageError, WriterError
from writer.training import checkpoint as ckpt
from writer.training.corpus import encode_documents, read_corpus, split_holdout
from writer.training.evaluate import model_context, perplexity
from writer.training.tuned import prompt_from, sample, save_tuned_model

METHODS = ("auto", "lora", "full")
# "auto" picks LoRA from this many parameters up (GPT-2 small has 124M): see docs/finetuning.md.
AUTO_LORA_MIN_PARAMS = 50_000_000
# Below AUTO_LORA_MIN_PARAMS a model is a toy or test model: full training at nanoGPT's
# small-model rate. GPT-2 small and up: gpt-2-simple's 1e-4 for full, LoRA's usual 1e-3.
DEFAULT_LR = {"lora": 1e-3, "full": 1e-4, "full-small": 1e-3}
DEFAULT_BLOCK_SIZE = 256
MIN_AUTO_BLOCK_SIZE = 32
DEFAULT_EPOCHS = 3.0
MIN_DEFAULT_STEPS = 100
# GPT-2's Conv1D layers: attention in/out projections and the MLP. Covering the MLP too lets a
# small adapter change word choice, not only what the model attends to.
LORA_TARGETS = ["c_attn", "c_proj", "c_fc"]
CHECKPOINT_EVERY_S = 600.0  # also save every 10 minutes, so a crash loses little


@dataclass
class FinetuneOptions:
    """What to train. None means "the default" (or, when resuming, "what the checkpoint used")."""

    name: str
    base: str | None = None
    method: str | None = None
    steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    block_size: int | None = None
    batch_size: int | None = None
    micro_batch_size: int | None = None
    seed: int | None = None
    holdout: float | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    prompt: str | None = None
    device: str | None = None
    # Train in bfloat16 autocast (products in bf16, the softmax of the loss and the trained
    # weights in float32). None: on where the device has bf16 instructions (CPUs with
    # avx512_bf16 or amx_bf16, GPUs with bf16), else off.
    bf16: bool | None = None


@dataclass(frozen=True)
class TrainingProgress:
    """One finished optimizer step."""

    step: int
    total_steps: int
    loss: float
    tokens_per_s: float
    elapsed_s: float


@dataclass
class FinetuneResult:
    """What a finished fine-tune produced."""

    name: str
    folder: Path
    manifest: dict[str, Any]
    prompt: str
    sample_before: str
    sample_after: str

    @property
    def perplexity_before(self) -> float:
        return float(self.manifest["perplexity_before"])

    @property
    def perplexity_after(self) -> float:
        return float(self.manifest["perplexity_after"])


@dataclass
class FinetuneInterrupted(Exception):
    """Training stopped on request; `checkpoint` is None when nothing was worth saving yet."""

    name: str
    step: int = 0
    total_steps: int = 0
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.checkpoint is None:
            return "interrupted before training started; nothing was saved"
        return (
            f"interrupted at step {self.step}/{self.total_steps}; checkpoint in {self.checkpoint}"
        )


def _diverged(name: str, step: int, total: int, lr: float, value: float) -> WriterError:
    """The run stopped because the loss stopped being a number: nothing new is saved, and the
    last checkpoint (if any) is kept as it was."""
    kept = ""
    if ckpt.exists(name):
        done, _total = ckpt.peek_step(name)
        kept = f"; the checkpoint at step {done} is kept"
    return WriterError(
        f"training diverged at step {step + 1}/{total}: the loss became {value} with lr {lr:g}; "
        f"nothing was saved{kept}; fine-tune again with a lower --lr"
    )


def _check_positive(value: Any, flag: str, kind: type = int) -> None:
    if value is None:
        return
    if kind is int and (not isinstance(value, int) or value < 1):
        raise WriterError(f"{flag} must be a whole number of at least 1; got {value!r}")
    if kind is float and not (
        isinstance(value, (int, float)) and value > 0 and math.isfinite(value)
    ):
        raise WriterError(f"{flag} must be a number above 0; got {value!r}")


def validate_options(options: FinetuneOptions) -> None:
    """Reject bad values with a one-line error naming the flag (before anything is loaded)."""
    check_model_name(options.name)  # a valid file name that hides no hub model (gpt2...)
    if options.seed is not None and not 0 <= options.seed <= MAX_SEED:
        raise WriterError(f"--seed must be a whole number from 0 to {MAX_SEED}; got {options.seed}")
    if options.method is not None and options.method not in METHODS:
        raise WriterError(f"--method must be one of {', '.join(METHODS)}; got {options.method!r}")
    if options.steps is not None and options.epochs is not None:
        raise WriterError("give --steps or --epochs, not both")
    for flag, value in (
        ("--steps", options.steps),
        ("--block-size", options.block_size),
        ("--batch-size", options.batch_size),
        ("--micro-batch-size", options.micro_batch_size),
        ("--lora-r", options.lora_r),
        ("--lora-alpha", options.lora_alpha),
    ):
        _check_positive(value, flag)
    _check_positive(options.epochs, "--epochs", float)
    _check_positive(options.lr, "--lr", float)
    if options.block_size is not None and options.block_size < 8:
        raise WriterError(f"--block-size must be at least 8; got {options.block_size}")
    if options.holdout is not None and not 0 < options.holdout < 0.5:
        raise WriterError(f"--holdout must be above 0 and below 0.5; got {options.holdout}")


def _pick_method(method: str, params: int) -> str:
    if method != "auto":
        return method
    return "lora" if params >= AUTO_LORA_MIN_PARAMS else "full"


def default_lr(method: str, params: int) -> float:
    """The learning rate used when --lr is not given (see DEFAULT_LR)."""
    if method == "full" and params < AUTO_LORA_MIN_PARAMS:
        return DEFAULT_LR["full-small"]
    return DEFAULT_LR[method]


def _default_block_size(context: int, train_tokens: int) -> int:
    """DEFAULT_BLOCK_SIZE (or the model's context if shorter), halved while the text is too short
    for a few different windows, down to MIN_AUTO_BLOCK_SIZE: a short text still trains."""
    block = min(DEFAULT_BLOCK_SIZE, context)
    while block > MIN_AUTO_BLOCK_SIZE and train_tokens < 2 * block + 1:
        block //= 2
    return max(block, min(MIN_AUTO_BLOCK_SIZE, context))


def _base_location(source: Any) -> str:
    """What the manifest records as base: a hub id, or an absolute folder path."""
    if source.kind == "hub":
        return source.location
    return str(Path(source.location).resolve())


def _lr_factor(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to a tenth of the peak (nanoGPT's schedule)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _resolve(options: FinetuneOptions, saved: dict[str, Any] | None) -> FinetuneOptions:
    """Fill defaults; when resuming, take the checkpoint's values and refuse conflicting flags."""
    defaults = {
        "base": "gpt2",
        "method": "auto",
        "batch_size": 8,
        "seed": 0,
        "holdout": 0.1,
        "lora_r": 8,
        "lora_alpha": 16,
    }
    if saved is not None and saved.get("bf16") is None:
        # A run checkpointed before bf16 had a default trained in float32: resume it so.
        saved = {**saved, "bf16": False}
    return ckpt.resolve_options(options, saved, defaults)


def finetune(
    paths: Sequence[str | Path],
    options: FinetuneOptions,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_status: Callable[[str], None] | None = None,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stop_after_steps: int | None = None,
) -> FinetuneResult:
    """Train `options.name` on the text under `paths`; see the module docstring.

    Raises WriterError for bad input (before loading the model when it can) and
    FinetuneInterrupted when `should_stop()` turns true or after `stop_after_steps` steps of this
    run (the deterministic stand-in for Ctrl+C that the tests use).
    """
    from writer.paths import models_dir

    status = on_status or (lambda _text: None)
    stop = should_stop or (lambda: False)
    validate_options(options)
    name = options.name
    target = models_dir() / name
    saved_state: dict[str, Any] | None = None
    if resume:
        saved_state = ckpt.load(name)
        overwrite = overwrite or bool(saved_state.get("overwrite"))
    elif ckpt.exists(name):
        if not overwrite:
            step, total = ckpt.peek_step(name)
            raise WriterError(
                f"an interrupted fine-tune of {name!r} exists (step {step}/{total}); continue it "
                "with --resume, or start over with --overwrite"
            )
        ckpt.remove(name)
    if target.exists() and not overwrite:
        raise WriterError(
            f"a model named {name!r} already exists in {target.parent}; pick another --name "
            "or pass --overwrite to replace it"
        )
    opts = _resolve(options, saved_state["options"] if saved_state else None)

    corpus = read_corpus(paths)
    if saved_state is not None and saved_state["fingerprint"] != corpus.fingerprint:
        raise WriterError(
            f"the text differs from the interrupted run of {name!r}; resume with the same files, "
            "or start over with --overwrite"
        )
    import torch

    from writer.engine.loading import default_threads
    from writer.training.loss import LanguageModelLoss, bf16_autocast, bf16_available

    torch.set_num_threads(default_threads())  # the engine's policy: WRITER_THREADS, else every core
    model, tokenizer, source = load_model_and_tokenizer(opts.base, device=opts.device)
    if stop():
        raise FinetuneInterrupted(name)
    context = model_context(model)
    if opts.block_size is not None and opts.block_size > context:
        raise UsageError(  # a flag's value, as argparse's range check: exit 2
            f"--block-size {opts.block_size} is larger than the model's context ({context})"
        )
    params = sum(p.numel() for p in model.parameters())
    method = _pick_method(opts.method or "auto", params)
    if method == "lora" and source.kind == "finetuned":
        raise WriterError(
            f"LoRA needs a base model, and {opts.base!r} is fine-tuned; use --method full or "
            "its base"
        )
    opts.lr = opts.lr if opts.lr is not None else default_lr(method, params)

    ids = encode_documents(tokenizer, corpus.texts)
    train_ids, holdout_ids = split_holdout(ids, opts.holdout)
    if opts.block_size is None:
        opts.block_size = _default_block_size(context, len(train_ids))
    if len(train_ids) < opts.block_size + 1:
        raise WriterError(
            f"too little text: {len(ids)} tokens in {len(corpus.files)} file(s), and training "
            f"needs one block of {opts.block_size + 1} after holding out {opts.holdout:.0%}; add "
            "text or pass a smaller --block-size"
        )
    micro = opts.micro_batch_size or min(opts.batch_size, 4 if opts.block_size <= 128 else 2)
    opts.micro_batch_size = min(micro, opts.batch_size)
    accumulation = math.ceil(opts.batch_size / opts.micro_batch_size)
    tokens_per_step = accumulation * opts.micro_batch_size * opts.block_size
    if opts.steps is None:
        epochs = opts.epochs if opts.epochs is not None else DEFAULT_EPOCHS
        steps = math.ceil(epochs * len(train_ids) / tokens_per_step)
        opts.steps = steps if opts.epochs is not None else max(MIN_DEFAULT_STEPS, steps)
    total_steps = opts.steps
    eval_block = min(context, max(opts.block_size, 2 * opts.block_size))
    eval_stride = max(1, eval_block // 2)

    if saved_state is not None:
        before = saved_state["perplexity_before"]
        prompt, sample_before = saved_state["prompt"], saved_state["sample_before"]
    else:
        status(f"measuring held-out perplexity of {opts.base} ({len(holdout_ids)} tokens)")
        before = perplexity(model, holdout_ids, eval_block, eval_stride).perplexity
        prompt = opts.prompt or prompt_from(tokenizer, holdout_ids)
        sample_before = sample(model, tokenizer, prompt, opts.seed)
        if stop():
            raise FinetuneInterrupted(name)

    # Seed everything training draws from: weight init of the adapter, dropout, data order.
    random.seed(opts.seed)
    torch.manual_seed(opts.seed)
    data_rng = torch.Generator().manual_seed(opts.seed)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=opts.lora_r,
            lora_alpha=opts.lora_alpha,
            lora_dropout=0.05,
            target_modules=LORA_TARGETS,
            fan_in_fan_out=True,  # GPT-2's Conv1D stores weights transposed
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, config)
    model.train()
    lm_loss = LanguageModelLoss(model)  # no logits-sized buffers made per step (loss.py)
    if opts.bf16 is None:  # resolved once and saved: a resumed run trains as it began
        opts.bf16 = bf16_available(next(model.parameters()).device)
    autocast = bf16_autocast(next(model.parameters()).device, opts.bf16)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([p for _, p in trainable], lr=opts.lr, weight_decay=0.01)
    warmup = max(1, min(100, total_steps // 10))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(warmup, total_steps))
    step, tokens_seen, train_seconds = 0, 0, 0.0
    if saved_state is not None:
        ckpt.restore(saved_state, trainable, optimizer, scheduler, data_rng)
        step = saved_state["step"]
        tokens_seen = saved_state["tokens_seen"]
        train_seconds = saved_state["train_seconds"]

    def save_checkpoint(rng: dict[str, Any]) -> Path:
        return ckpt.save(
            name,
            {
                "options": dataclasses.asdict(opts),
                "fingerprint": corpus.fingerprint,
                "step": step,
                "total_steps": total_steps,
                "tokens_seen": tokens_seen,
                "train_seconds": train_seconds + (time.monotonic() - run_start),
                "perplexity_before": before,
                "prompt": prompt,
                "sample_before": sample_before,
                "overwrite": overwrite,
                "trainable": {n: p.detach().cpu().clone() for n, p in trainable},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
            },
        )

    device = next(model.parameters()).device
    train_tensor = torch.tensor(train_ids, dtype=torch.long)
    high = len(train_ids) - opts.block_size  # last valid window start + 1
    run_start = time.monotonic()
    last_save = run_start
    steps_this_run = 0
    status(
        f"training {method} on {len(train_ids)} tokens ({len(corpus.files)} file(s)): "
        f"{total_steps} steps of {tokens_per_step} tokens, lr {opts.lr:g}"
    )
    while step < total_steps:
        # Taken before the step draws anything, so a stop mid-step saves a state that replays it.
        rng_at_step = ckpt.rng_state(data_rng)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(accumulation):
            starts = torch.randint(high + 1, (opts.micro_batch_size,), generator=data_rng)
            batch = torch.stack([train_tensor[s : s + opts.block_size] for s in starts.tolist()])
            batch = batch.to(device)
            with autocast:
                loss = lm_loss(batch) / accumulation
            if not math.isfinite(loss.item()):
                raise _diverged(name, step, total_steps, opts.lr, loss.item())
            loss.backward()
            step_loss += loss.item()
            if stop():
                path = save_checkpoint(rng_at_step)
                raise FinetuneInterrupted(name, step, total_steps, path)
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        steps_this_run += 1
        tokens_seen += tokens_per_step
        elapsed = time.monotonic() - run_start
        if on_progress is not None:
            rate = steps_this_run * tokens_per_step / elapsed if elapsed > 0 else 0.0
            on_progress(TrainingProgress(step, total_steps, step_loss, rate, elapsed))
        if step < total_steps and (
            stop() or (stop_after_steps is not None and steps_this_run >= stop_after_steps)
        ):
            path = save_checkpoint(ckpt.rng_state(data_rng))
            raise FinetuneInterrupted(name, step, total_steps, path)
        if time.monotonic() - last_save > CHECKPOINT_EVERY_S:
            save_checkpoint(ckpt.rng_state(data_rng))
            last_save = time.monotonic()
    train_seconds += time.monotonic() - run_start

    status("measuring held-out perplexity of the fine-tuned model")
    after = perplexity(model, holdout_ids, eval_block, eval_stride).perplexity
    if not math.isfinite(after):
        raise _diverged(name, step, total_steps, opts.lr, after)
    manifest = {
        "name": name,
        "base": _base_location(source),
        "method": method,
        "data_fingerprint": corpus.fingerprint,
        "files": [str(f) for f in corpus.files],
        "tokens": len(ids),
        "train_tokens": len(train_ids),
        "holdout_tokens": len(holdout_ids),
        "steps": total_steps,
        "tokens_seen": tokens_seen,
        "block_size": opts.block_size,
        "batch_size": opts.batch_size,
        "micro_batch_size": opts.micro_batch_size,
        "lr": opts.lr,
        "seed": opts.seed,
        "bf16": opts.bf16,
        "perplexity_before": before,
        "perplexity_after": after,
        "train_seconds": round(train_seconds, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if method == "lora":
        manifest.update(lora_r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_targets=LORA_TARGETS)
    save_tuned_model(target, model, tokenizer, method, manifest)
    ckpt.remove(name)
    if method == "lora":
        model = model.merge_and_unload()  # sample as the model will load: merged (saved already)
    sample_after = sample(model, tokenizer, prompt, opts.seed)
    return FinetuneResult(name, target, manifest, prompt, sample_before, sample_after)
