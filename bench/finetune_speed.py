"""Fine-tuning throughput: `writer finetune` against a plain transformers `Trainer` + peft LoRA
run of the same model, text and hyper-parameters, both in one invocation.

    python -m bench.finetune_speed                     # tiny random GPT-2, 150 steps of 8 x 256
    python -m bench.finetune_speed --size small --steps 30 \
        --ways writer,writer-fp32,trainer,trainer-bf16
    python -m bench.finetune_speed --steps 3 --block-size 64      # a smoke run

Ways: `writer` (writer finetune with its defaults: bf16 autocast where the CPU has bf16),
`writer-fp32` (`--no-bf16`), `trainer` (Trainer's defaults: float32) and `trainer-bf16`
(`bf16=True`). Each runs in its own process, one after the other: training tokens/s (optimizer
steps x batch x block over the training loop's own time: writer's manifest `train_seconds`,
Trainer's `train_runtime`), the whole process's wall time, its peak RSS (the child's own, from
wait4), and the held-out perplexity after training (the text's last tenth, scored by the same
sliding window, float32, for every way). Ratios are against `trainer`.

The same LoRA (r 8, alpha 16, dropout 0.05 on c_attn, c_proj, c_fc), AdamW with weight decay
0.01, gradient clipping at 1, warm-up then cosine decay, the same micro-batch and gradient
accumulation, the same seeded text. The model is a random GPT-2 shape with GPT-2's
real tokenizer (bench/models.py), so the vocabulary (50,257) is the real one: the logits are
most of the memory traffic. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import models
from bench.report import cpu_name, emit
from bench.workloads import _text, story_ids
from writer.engine.gpt2.quant import cpu_flags
from writer.training.loss import BF16_FLAGS

LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05}
TARGETS = ["c_attn", "c_proj", "c_fc"]
LR = 1e-3


def _run_child(command: list[str], env: dict[str, str]) -> tuple[float, int, str, str]:
    """Run `command`; its wall time, its own peak RSS (bytes), stdout and stderr."""
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"bench: {command[2:4]} failed: {stderr.strip()[-800:]}")
    return wall, usage.ru_maxrss * 1024, stdout, stderr


def run_writer(
    model_dir: Path, corpus: Path, args: argparse.Namespace, fp32: bool
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-ft-"))
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "writer", "finetune", str(corpus), "--name", "bench"]
    command += ["--base", str(model_dir), "--method", "lora", "--steps", str(args.steps)]
    command += ["--block-size", str(args.block_size), "--batch-size", str(args.batch_size)]
    command += ["--micro-batch-size", str(args.micro_batch_size), "--lr", str(LR), "--seed", "0"]
    command += ["--lora-r", str(LORA["r"]), "--lora-alpha", str(LORA["lora_alpha"])]
    command += ["--no-continuations"] + (["--no-bf16"] if fp32 else [])
    wall, rss, _, _ = _run_child(command, env)
    manifest = json.loads(next(home.glob("data/**/models/bench/manifest.json")).read_text())
    tokens = args.steps * args.batch_size * args.block_size
    return {
        "way": "writer-fp32" if fp32 else "writer",
        "bf16": manifest.get("bf16"),
        "train_s": manifest["train_seconds"],
        "tokens_per_s": round(tokens / manifest["train_seconds"], 1),
        "process_s": round(wall, 1),
        "peak_rss_mb": round(rss / 2**20),
        "heldout_perplexity": round(manifest["perplexity_after"], 3),
    }


def run_trainer(
    model_dir: Path, corpus: Path, args: argparse.Namespace, bf16: bool
) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.finetune_speed", "--worker", str(model_dir)]
    command += ["--corpus", str(corpus), "--steps", str(args.steps)]
    command += ["--block-size", str(args.block_size), "--batch-size", str(args.batch_size)]
    command += ["--micro-batch-size", str(args.micro_batch_size)]
    if bf16:
        command.append("--bf16")
    wall, rss, stdout, _ = _run_child(command, {**os.environ, "HF_HUB_OFFLINE": "1"})
    result = json.loads(stdout.strip().splitlines()[-1])
    tokens = args.steps * args.batch_size * args.block_size
    return {
        "way": "trainer-bf16" if bf16 else "trainer",
        "bf16": bf16,
        "train_s": round(result["train_runtime"], 1),
        "tokens_per_s": round(tokens / result["train_runtime"], 1),
        "process_s": round(wall, 1),
        "peak_rss_mb": round(rss / 2**20),
        "heldout_perplexity": round(result["heldout_perplexity"], 3),
    }


def trainer_worker(model_dir: Path, args: argparse.Namespace) -> None:
    """The comparison run: Trainer over random windows of the text, as writer samples them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, GPT2LMHeadModel, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    ids = tokenizer(args.corpus.read_text(encoding="utf-8"))["input_ids"]
    train = torch.tensor(ids[: int(len(ids) * 0.9)])  # writer holds out the last tenth
    rng = torch.Generator().manual_seed(0)
    count = args.steps * args.batch_size
    starts = torch.randint(len(train) - args.block_size + 1, (count,), generator=rng)
    windows = [train[s : s + args.block_size] for s in starts.tolist()]
    data = [{"input_ids": w, "labels": w} for w in windows]
    model = GPT2LMHeadModel.from_pretrained(str(model_dir))
    config = LoraConfig(**LORA, target_modules=TARGETS, fan_in_fan_out=True, task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    training = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-trainer-"),
        per_device_train_batch_size=args.micro_batch_size,
        gradient_accumulation_steps=max(1, args.batch_size // args.micro_batch_size),
        max_steps=args.steps,
        learning_rate=LR,
        weight_decay=0.01,
        max_grad_norm=1.0,
        warmup_steps=max(1, min(100, args.steps // 10)),
        lr_scheduler_type="cosine",
        logging_strategy="no",
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        bf16=args.bf16,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=training, train_dataset=data)
    metrics = trainer.train().metrics
    # Scored as writer scores its own run (writer.training.evaluate, float32, the same window).
    from writer.training.evaluate import perplexity

    holdout = ids[int(len(ids) * 0.9) :]
    block = min(model.config.n_positions, 2 * args.block_size)
    heldout = perplexity(model, holdout, block, max(1, block // 2)).perplexity
    result = {"train_runtime": metrics["train_runtime"], "loss": metrics["train_loss"]}
    print(json.dumps({**result, "heldout_perplexity": heldout}))


RUNS = {
    "writer": lambda m, c, a: run_writer(m, c, a, fp32=False),
    "writer-fp32": lambda m, c, a: run_writer(m, c, a, fp32=True),
    "trainer": lambda m, c, a: run_trainer(m, c, a, bf16=False),
    "trainer-bf16": lambda m, c, a: run_trainer(m, c, a, bf16=True),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(models.SPECS), default="tiny")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--micro-batch-size", type=int, default=2)
    parser.add_argument("--text-tokens", type=int, default=60_000, help="length of the text")
    parser.add_argument(
        "--ways",
        default="writer,trainer",
        help="comma-separated: writer, writer-fp32, trainer, trainer-bf16 (default writer,trainer)",
    )
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)  # the worker's
    parser.add_argument("--tokenizer", help="GPT-2 tokenizer folder (default ../shared)")
    parser.add_argument("--models-dir", type=Path, default=models.DEFAULT_MODELS_DIR)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        trainer_worker(args.worker, args)
        return 0
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    unknown = sorted(set(ways) - set(RUNS))
    if unknown or not ways:
        raise SystemExit(f"bench: unknown way(s) {unknown}; pick from {sorted(RUNS)}")
    tokenizer_dir = models.resolve_tokenizer(args.tokenizer)
    model_dir = models.build_model(models.SPECS[args.size], args.models_dir, tokenizer_dir)
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the story is longer than the window: it is only text
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "story.txt"
        corpus.write_text(_text(tokenizer, story_ids(tokenizer, args.text_tokens, 7)), "utf-8")
        rows = [RUNS[way](model_dir, corpus, args) for way in ways]
    base = next((r for r in rows if r["way"] == "trainer"), None)
    for row in rows:
        if base is not None and row is not base:
            row["tokens_per_s_vs_trainer"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2)
            row["peak_rss_vs_trainer"] = round(row["peak_rss_mb"] / base["peak_rss_mb"], 2)
            ppl = row["heldout_perplexity"] / base["heldout_perplexity"]
            row["heldout_perplexity_vs_trainer"] = round(ppl, 3)
    report = {
        "model": model_dir.name,
        "steps": args.steps,
        "batch": f"{args.batch_size} x {args.block_size} (micro-batch {args.micro_batch_size})",
        "cpu": cpu_name(),
        "cpu_bf16": sorted(BF16_FLAGS & cpu_flags()),
        "ways": rows,
    }
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
