"""`python -m bench.gpu_check`: the whole GPU check in one short run (models built in place).

For each GPT-2 shape asked for (random weights, real shapes, GPT-2's real tokenizer), on the
first CUDA device:
 - greedy equality: the engine's greedy tokens against `model.generate(do_sample=False)` (fp32);
 - W1 (512-token story, 4 x 64, temperature 0.8, top-k 50) for the engine with CUDA graphs,
   the engine without them (WRITER_CUDA_GRAPHS=0) and plain `model.generate`, interleaved
   rounds, median wall time and first token; then the engine in bf16.
Prints a Markdown table (and --json FILE). Nothing is written to disk but the JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
import warnings
from typing import Any

SHAPES = {
    "small": dict(n_embd=768, n_layer=12, n_head=12),
    "medium": dict(n_embd=1024, n_layer=24, n_head=16),
    "large": dict(n_embd=1280, n_layer=36, n_head=20),
    "xl": dict(n_embd=1600, n_layer=48, n_head=25),
}
TEMPERATURE, TOP_K = 0.8, 50


def _sync() -> None:
    import torch

    torch.cuda.synchronize()


def build(shape: str, tokenizer: Any, dtype: Any) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        **SHAPES[shape],
        n_positions=1024,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.device("cuda"):
        model = GPT2LMHeadModel(config)
    return model.to(dtype).eval()


def engine_w1(engine: Any, wl: Any, seed: int, graphs: bool) -> tuple[float, float]:
    from writer.engine.types import GenerationDone
    from writer.presets import SamplingParams

    os.environ["WRITER_CUDA_GRAPHS"] = "1" if graphs else "0"
    params = SamplingParams(
        temperature=TEMPERATURE,
        top_k=TOP_K,
        top_p=1.0,
        repetition_penalty=1.0,
        max_new_tokens=wl.new_tokens,
    )
    engine.clear_cache()
    _sync()
    start = time.perf_counter()
    first = None
    for event in engine.stream(wl.prompt, params, n=wl.n, seed=seed):
        if first is None:
            first = time.perf_counter() - start
        if isinstance(event, GenerationDone):
            pass
    _sync()
    return time.perf_counter() - start, first or 0.0


def plain_w1(model: Any, tokenizer: Any, wl: Any, seed: int) -> tuple[float, float]:
    import torch
    from transformers.generation.streamers import BaseStreamer

    class First(BaseStreamer):
        def __init__(self) -> None:
            self.puts, self.first = 0, None

        def put(self, value: Any) -> None:
            self.puts += 1
            if self.puts == 2:
                self.first = time.perf_counter()

        def end(self) -> None:
            pass

    streamer = First()
    torch.manual_seed(seed)
    _sync()
    with torch.inference_mode():
        start = time.perf_counter()
        enc = tokenizer(wl.prompt, return_tensors="pt", add_special_tokens=False).to("cuda")
        model.generate(
            **enc,
            do_sample=True,
            temperature=TEMPERATURE,
            top_k=TOP_K,
            top_p=1.0,
            max_new_tokens=wl.new_tokens,
            min_new_tokens=wl.new_tokens,
            num_return_sequences=wl.n,
            pad_token_id=tokenizer.eos_token_id,
            streamer=streamer,
        )
        _sync()
        wall = time.perf_counter() - start
    return wall, (streamer.first or start) - start


def greedy_equal(engine: Any, model: Any, tokenizer: Any, prompt: str, new: int) -> bool:
    import torch

    from writer.presets import SamplingParams

    params = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=new)
    ours = engine.generate(prompt, params, n=1, seed=0)[0].token_ids
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to("cuda")
    with torch.inference_mode():
        out = model.generate(
            **enc, do_sample=False, max_new_tokens=new, pad_token_id=tokenizer.eos_token_id
        )
    theirs = out[0, enc["input_ids"].shape[1] :].tolist()
    if tokenizer.eos_token_id in theirs:
        theirs = theirs[: theirs.index(tokenizer.eos_token_id)]
    return list(ours) == theirs[: len(ours)] and len(ours) == len(theirs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.gpu_check", description=__doc__.split("\n")[0]
    )
    p.add_argument("--models", default="small,xl", help="comma-separated shapes (default small,xl)")
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--tokenizer", default=None, help="GPT-2 tokenizer folder")
    p.add_argument("--json", default=None, help="write the results here too")
    p.add_argument(
        "--quality-steps",
        type=int,
        default=400,
        help="train a peaked GPT-2 small this many steps and compare bf16 with fp32 (0: skip)",
    )
    p.add_argument("--models-dir", default=".bench-models", help="where the peaked model is cached")
    p.add_argument("--tests", action="store_true", help="then run the test suite with CUDA visible")
    args = p.parse_args(argv)

    import torch
    from transformers import AutoTokenizer

    from bench.models import resolve_tokenizer
    from bench.workloads import make_workloads
    from writer.engine.generate import Engine

    warnings.filterwarnings("ignore")
    if not torch.cuda.is_available():
        raise SystemExit("bench: error: no CUDA device; this check needs a GPU")
    gpu = torch.cuda.get_device_name(0)
    print(f"GPU: {gpu}; torch {torch.__version__}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_tokenizer(args.tokenizer)))
    w1 = next(w for w in make_workloads(tokenizer) if w.name == "W1")
    rows: list[dict[str, Any]] = []
    for shape in args.models.split(","):
        model = build(shape, tokenizer, torch.float32)
        # The engine gets its own copy: with owns_model it re-lays the weights out and swaps
        # the model's Conv1D modules, which would change what plain `generate` runs.
        engine = Engine(
            copy.deepcopy(model),
            tokenizer,
            name=shape,
            device="cuda",
            precision="fp32",
            owns_model=True,
        )
        os.environ["WRITER_CUDA_GRAPHS"] = "1"
        equal = greedy_equal(engine, model, tokenizer, w1.prompt, 64)
        times: dict[str, list[tuple[float, float]]] = {"graphs": [], "eager": [], "plain": []}
        for way in times:  # warm-up: cuBLAS and allocator
            if way == "plain":
                plain_w1(model, tokenizer, w1, 0)
            else:
                engine_w1(engine, w1, 0, way == "graphs")
        for r in range(args.repeat):
            order = list(times)[r % 3 :] + list(times)[: r % 3]
            for way in order:
                if way == "plain":
                    times[way].append(plain_w1(model, tokenizer, w1, r))
                else:
                    times[way].append(engine_w1(engine, w1, r, way == "graphs"))
        bf16_model = copy.deepcopy(model).to(torch.bfloat16)
        bf16 = Engine(
            bf16_model, tokenizer, name=shape, device="cuda", precision="bf16", owns_model=True
        )
        engine_w1(bf16, w1, 0, True)
        bf16_times = [engine_w1(bf16, w1, r, True) for r in range(args.repeat)]
        row = {"model": shape, "greedy_equal_fp32": equal, "gpu": gpu}
        for way, values in [*times.items(), ("graphs_bf16", bf16_times)]:
            row[f"{way}_wall_s"] = statistics.median(v[0] for v in values)
            row[f"{way}_first_s"] = statistics.median(v[1] for v in values)
        row["speedup_vs_plain"] = row["plain_wall_s"] / row["graphs_wall_s"]
        row["speedup_bf16_vs_plain"] = row["plain_wall_s"] / row["graphs_bf16_wall_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
        del model, engine, bf16, bf16_model
        torch.cuda.empty_cache()

    print(
        f"\n| W1 on {gpu} | engine fp32 + graphs | engine fp32 eager | plain generate "
        "| engine bf16 + graphs | fp32 graphs vs plain | greedy = generate |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['graphs_wall_s']:.3f} s | {row['eager_wall_s']:.3f} s | "
            f"{row['plain_wall_s']:.3f} s | {row['graphs_bf16_wall_s']:.3f} s | "
            f"{row['speedup_vs_plain']:.2f}x | {row['greedy_equal_fp32']} |"
        )
    quality = None
    if args.quality_steps:
        from pathlib import Path

        from bench.peaked import agreement, build_peaked, heldout_ids
        from writer.engine import load_engine

        folder = build_peaked(
            Path(args.models_dir),
            resolve_tokenizer(args.tokenizer),
            steps=args.quality_steps,
            device="cuda",
        )
        ids = heldout_ids(tokenizer, 4096)
        ref = load_engine(str(folder), device="cuda", precision="fp32")
        quality = {}
        for precision in ("bf16",):
            other = load_engine(str(folder), device="cuda", precision=precision)
            quality[precision] = agreement(ref, other, ids)
            print(f"quality {precision} vs fp32 on GPU: {json.dumps(quality[precision])}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"w1": rows, "quality": quality}, fh, indent=1)
    if args.tests:
        import subprocess
        import sys

        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
        return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
