"""DPO with TRL: the author's preference pairs as token ids, and a DPOTrainer run that reports
progress, stops on request and saves a checkpoint that `resume` continues.

TRL's `DPOTrainer` computes the sigmoid DPO loss (plus, by default, a weighted NLL of the chosen
completions: TRL's "sft" loss type, which keeps the author's kind of text likely); with a peft
LoRA adapter its reference model is the same model with the adapter disabled (no second copy);
for a full fine-tune the caller hands it a frozen copy. Checkpoints are the Hugging Face
Trainer's (weights, optimizer, scheduler, RNG states, and how far into the data order it was),
written to the learn run's checkpoint folder.

TRL is an optional extra (`pip install -e ".[learn]"`): `require_trl()` turns its absence into one
line, and nothing here imports it at module level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writer.errors import WriterError
from writer.training.pairs import PreferencePair

MISSING_TRL = 'writer learn needs TRL: pip install -e ".[learn]"'


@dataclass(frozen=True)
class TokenizedPair:
    """A pair as ids: the prompt (cut from the left to fit) and the two completions."""

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]

    def as_row(self) -> dict[str, list[int]]:
        return {
            "prompt_ids": self.prompt_ids,
            "chosen_ids": self.chosen_ids,
            "rejected_ids": self.rejected_ids,
        }


@dataclass(frozen=True)
class LearnProgress:
    """One finished optimizer step: the DPO loss and the batch's reward accuracy."""

    step: int
    total_steps: int
    loss: float
    accuracy: float
    elapsed_s: float


def require_trl() -> None:
    """A one-line error when TRL (the `learn` extra) is not installed."""
    try:
        import trl  # noqa: F401  (the command needs it next anyway)
    except ImportError:
        raise WriterError(MISSING_TRL) from None


def tokenize_pairs(
    tokenizer: Any, pairs: Sequence[PreferencePair], max_length: int
) -> list[TokenizedPair]:
    """Encode prompt and completions separately, as generation sees them (the prompt's ids, then
    the candidate's), with no end-of-text after a completion: a candidate is a piece of a story,
    not its end. A completion keeps at most half of `max_length` tokens (its start); the prompt
    keeps its end, as the engine does with a long story."""
    eos = tokenizer.eos_token_id
    out = []
    for pair in pairs:
        prompt = tokenizer.encode(pair.prompt) or [eos]
        chosen = tokenizer.encode(pair.chosen)[: max_length // 2]
        rejected = tokenizer.encode(pair.rejected)[: max_length // 2]
        if not chosen or not rejected:
            continue
        room = max(1, max_length - max(len(chosen), len(rejected)))
        out.append(TokenizedPair(prompt[-room:], chosen, rejected))
    return out


def _trainer_class() -> type:
    from trl import DPOTrainer

    class PretokenizedDPOTrainer(DPOTrainer):
        """DPOTrainer on rows that are already token ids.

        TRL's own preparation appends end-of-text to every completion and truncates from the
        right (`keep_start` is the only mode), which would teach a story to end after each
        candidate and cut the candidate off a long prompt; `tokenize_pairs` does it right.
        """

        def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
            return dataset

    return PretokenizedDPOTrainer


def _callback(
    on_progress: Callable[[LearnProgress], None] | None,
    should_stop: Callable[[], bool],
    stop_after_steps: int | None,
    save_every_s: float,
) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Progress after each step; a stop request saves a checkpoint, then ends training."""

        def __init__(self) -> None:
            self.start = time.monotonic()
            self.last_save = self.start
            self.first_step: int | None = None
            self.stopped = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if self.first_step is None:
                self.first_step = state.global_step - 1
            done_here = state.global_step - self.first_step
            if state.global_step < state.max_steps and (
                should_stop() or (stop_after_steps is not None and done_here >= stop_after_steps)
            ):
                control.should_save = True
                control.should_training_stop = True
                self.stopped = True
            elif time.monotonic() - self.last_save > save_every_s:
                control.should_save = True
                self.last_save = time.monotonic()
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> Any:
            logs = logs or {}
            if on_progress is not None and "loss" in logs:
                on_progress(
                    LearnProgress(
                        state.global_step,
                        state.max_steps,
                        float(logs["loss"]),
                        float(logs.get("rewards/accuracies", 0.0)),
                        time.monotonic() - self.start,
                    )
                )
            return control

    return Progress()


@dataclass
class TrainSettings:
    """What one DPO run uses (resolved by writer.training.learn)."""

    beta: float
    lr: float
    steps: int | None
    epochs: float | None
    batch_size: int
    micro_batch_size: int
    seed: int
    device: str
    # Weight of the negative log-likelihood of the chosen completions added to the DPO loss
    # (TRL's "sft" loss type beside "sigmoid"; 0: plain DPO). It holds the likelihood of the
    # text the author keeps up while DPO pushes the rejected text down.
    sft_weight: float = 0.0


def loss_settings(sft_weight: float) -> dict[str, Any]:
    """DPOConfig's `loss_type` and `loss_weights` for sigmoid DPO plus `sft_weight` x NLL."""
    if sft_weight <= 0:
        return {"loss_type": ["sigmoid"]}
    return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, sft_weight]}


def train_dpo(
    model: Any,
    tokenizer: Any,
    train: Sequence[TokenizedPair],
    settings: TrainSettings,
    output_dir: Path,
    *,
    peft_config: Any = None,
    ref_model: Any = None,
    resume: bool = False,
    on_progress: Callable[[LearnProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stop_after_steps: int | None = None,
    save_every_s: float = 600.0,
) -> tuple[Any, int, int, bool]:
    """Train; return (the trained model, steps done, total steps, stopped before the end)."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig

    from writer.training.loss import bf16_available

    accumulation = max(1, -(-settings.batch_size // settings.micro_batch_size))
    config = DPOConfig(
        output_dir=str(output_dir),
        beta=settings.beta,
        **loss_settings(settings.sft_weight),
        learning_rate=settings.lr,
        max_steps=settings.steps if settings.steps is not None else -1,
        num_train_epochs=settings.epochs if settings.epochs is not None else 1.0,
        per_device_train_batch_size=settings.micro_batch_size,
        gradient_accumulation_steps=accumulation,
        lr_scheduler_type="cosine",
        # A tenth of the run warms up; a short run (a few pairs) would waste its first steps.
        warmup_steps=0.1 if (settings.steps or 0) >= 20 else 0,
        max_length=None,  # tokenize_pairs already made every row fit
        gradient_checkpointing=False,  # tiny batches on a CPU: memory is not the limit
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=settings.device.startswith("cpu"),
        # TRL turns bf16 on wherever it can run; on a CPU without bf16 instructions it would
        # be emulated and slower than float32: on where the device multiplies bf16 natively.
        bf16=bf16_available(torch.device(settings.device)),
        logging_steps=1,
        save_strategy="no",  # saved when stopped (and every few minutes) by the callback
        save_total_limit=1,
        report_to=[],
        disable_tqdm=True,
        log_level="error",
        dataloader_num_workers=0,
    )
    dataset = Dataset.from_list([row.as_row() for row in train])
    callback = _callback(
        on_progress, should_stop or (lambda: False), stop_after_steps, save_every_s
    )
    trainer = _trainer_class()(
        model=model,
        ref_model=ref_model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our bar (on_progress) shows the progress
    trainer.train(resume_from_checkpoint=True if resume else None)
    state = trainer.state
    return trainer.model, state.global_step, state.max_steps, callback.stopped
