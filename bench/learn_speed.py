"""Preference-tuning speed and memory: `writer learn` (LoRA) against TRL's `DPOTrainer` run
directly, with TRL's defaults, on the same model and the same pairs.

    python -m bench.learn_speed                        # GPT-2 small shape, 10 steps of 8 pairs
    python -m bench.learn_speed --size tiny --steps 2 --pairs 24      # a smoke run

Each way runs in its own process, one after the other:

- writer: `writer learn --method lora` on a pairs file (it holds a tenth of the pairs out and
  measures the model on them before and after: in the process's time, not the training time);
- TRL: a plain script, `DPOTrainer(model, args=DPOConfig(...), train_dataset=..., peft_config=
  LoraConfig(...))` on the pairs writer trains on (the same split), with TRL's defaults except
  what has to match: steps, pairs per step, learning rate, beta, seed, and the LoRA adapter
  (r 8, alpha 16, dropout 0.05 on c_attn, c_proj, c_fc). TRL's defaults differ from writer's
  where writer chose otherwise: TRL runs the 8 pairs of a step as one batch with gradient
  checkpointing, a linear decay and no warm-up; writer runs them as micro-batches of 2 (the
  sequences are long) without checkpointing, with a cosine decay, and adds the NLL of the
  chosen completions to the loss (`--sft-weight`).

Reported per way: the training's wall time (the trainer set up, then its steps: writer's report
`train_seconds`, the script's own clock around the same two calls), pairs per second (steps x
pairs per step over that time), the whole process's wall time, and its peak RSS (the child's
own, from wait4); then writer's over TRL's. The model is a random GPT-2 shape with GPT-2's real
tokenizer (bench/models.py), so the vocabulary (50,257) is the real one. `--model DIR` takes
any saved GPT-2 folder instead. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import models
from bench.finetune_speed import _run_child
from bench.report import cpu_name
from bench.workloads import ENDINGS, WORDS

LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05}
LR = 5e-4  # writer learn's default for LoRA
BETA = 0.1
HOLDOUT = 0.1
SEED = 0


def pair_rows(count: int, prompt_words: int, completion_words: int) -> list[dict[str, str]]:
    """`count` seeded {"prompt","chosen","rejected"} rows of pseudo-English."""
    rng = random.Random(7)

    def words(n: int) -> str:
        out = []
        for i in range(n):
            out.append(rng.choice(ENDINGS) if i % 9 == 8 else " " + rng.choice(WORDS))
        return "".join(out)

    return [
        {
            "prompt": words(prompt_words).lstrip(),
            "chosen": words(completion_words),
            "rejected": words(completion_words),
        }
        for _ in range(count)
    ]


def run_writer(model_dir: Path, pairs_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-learn-"))
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "writer", "learn", "--name", "bench", "--json"]
    command += ["--base", str(model_dir), "--pairs", str(pairs_file), "--method", "lora"]
    command += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    command += ["--lr", str(LR), "--beta", str(BETA), "--holdout", str(HOLDOUT)]
    command += ["--seed", str(SEED), "--device", "cpu"]
    command += ["--lora-r", str(LORA["r"]), "--lora-alpha", str(LORA["lora_alpha"])]
    wall, rss, stdout, _ = _run_child(command, env)
    report = json.loads(stdout.strip().splitlines()[-1])
    return _row("writer learn", report["train_seconds"], wall, rss, args)


def run_trl(model_dir: Path, pairs_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.learn_speed", "--worker", str(model_dir)]
    command += ["--pairs-file", str(pairs_file), "--steps", str(args.steps)]
    command += ["--batch-size", str(args.batch_size)]
    wall, rss, stdout, _ = _run_child(command, {**os.environ, "HF_HUB_OFFLINE": "1"})
    result = json.loads(stdout.strip().splitlines()[-1])
    return _row("TRL DPOTrainer (defaults)", result["train_s"], wall, rss, args)


def _row(way: str, train_s: float, wall: float, rss: int, args: argparse.Namespace) -> dict:
    return {
        "way": way,
        "train_s": round(train_s, 2),
        "pairs_per_s": round(args.steps * args.batch_size / train_s, 2),
        "process_s": round(wall, 1),
        "peak_rss_mb": round(rss / 2**20),
    }


def trl_worker(model_dir: Path, args: argparse.Namespace) -> None:
    """The comparison run: TRL as its documentation shows it, on writer's training split."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    from trl import DPOConfig, DPOTrainer

    from writer.training.finetune import LORA_TARGETS
    from writer.training.pairs import read_pairs_file, split_pairs

    hf_logging.set_verbosity_error()
    train, _ = split_pairs(read_pairs_file(args.pairs_file), HOLDOUT, SEED)
    dataset = Dataset.from_list([pair.as_json() for pair in train])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    lora = LoraConfig(
        **LORA, target_modules=LORA_TARGETS, fan_in_fan_out=True, task_type="CAUSAL_LM"
    )
    config = DPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=LR,
        beta=BETA,
        seed=SEED,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    start = time.perf_counter()
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.train()
    print(json.dumps({"train_s": time.perf_counter() - start}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "small"), default="small")
    parser.add_argument("--model", type=Path, help="a saved GPT-2 folder instead of --size")
    parser.add_argument(
        "--pairs", type=int, default=120, help="preference pairs (a tenth held out)"
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per optimizer step")
    parser.add_argument("--prompt-words", type=int, default=150)
    parser.add_argument("--completion-words", type=int, default=30)
    parser.add_argument("--tokenizer", help="GPT-2 tokenizer folder (default ../shared)")
    parser.add_argument("--models-dir", type=Path, default=models.DEFAULT_MODELS_DIR)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--dry-run", action="store_true", help="build the model and pairs only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pairs-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pairs < 2 or args.steps < 1 or args.batch_size < 1:
        parser.error("--pairs must be at least 2, --steps and --batch-size at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        trl_worker(args.worker, args)
        return 0
    if args.model is not None:
        model_dir = args.model
    else:
        tokenizer_dir = models.resolve_tokenizer(args.tokenizer)
        spec = models.SPECS[args.size]
        model_dir = models.build_model(spec, args.models_dir, tokenizer_dir)
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = Path(tmp) / "pairs.jsonl"
        rows = pair_rows(args.pairs, args.prompt_words, args.completion_words)
        pairs_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        if args.dry_run:
            print(f"model {model_dir}, {len(rows)} pairs: ready")
            return 0
        ways = [run_writer(model_dir, pairs_file, args), run_trl(model_dir, pairs_file, args)]
    report = {
        "model": model_dir.name,
        "steps": args.steps,
        "pairs": args.pairs,
        "batch": args.batch_size,
        "words": f"prompt {args.prompt_words}, completions {args.completion_words}",
        "cpu": cpu_name(),
        "ways": ways,
        "time_ratio": round(ways[0]["train_s"] / ways[1]["train_s"], 2),
        "rss_ratio": round(ways[0]["peak_rss_mb"] / ways[1]["peak_rss_mb"], 2),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['model']}: {args.steps} steps of {args.batch_size} pairs; {report['cpu']}")
    print(f"{'way':<28}{'train s':>9}{'pairs/s':>9}{'process s':>11}{'peak RSS MB':>13}")
    for way in ways:
        print(
            f"{way['way']:<28}{way['train_s']:>9}{way['pairs_per_s']:>9}"
            f"{way['process_s']:>11}{way['peak_rss_mb']:>13}"
        )
    print(f"writer / TRL: time {report['time_ratio']}x, peak RSS {report['rss_ratio']}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
