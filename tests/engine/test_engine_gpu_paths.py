"""The GPU decode path's math, checked on CPU (CI has no GPU; bench/gpu_check.py runs it there).

`_StaticDecode` is what the CUDA graph captures: a static KV layout with masked attention.
It must give the dynamic runner's logits step for step, with candidates leaving the batch.
"""

from __future__ import annotations

import torch

from writer.engine.gpt2.cuda_graphs import _StaticDecode
from writer.engine.loading import auto_precision, load_engine


def test_static_decode_equals_dynamic_runner(tiny_model_dir):
    engine = load_engine(str(tiny_model_dir), device="cpu", precision="fp32")
    runner = engine.backend.runner
    ids = torch.tensor(engine.tokenizer.encode("Once upon a time there was a small fox"))
    _, prefix = runner.prefill(ids, None)
    suffix = runner.new_suffix(3, 12)
    static = _StaticDecode(runner, prefix, 3, 12)
    tokens = torch.tensor([5, 6, 7])
    for step in range(12):
        dynamic = runner.decode(tokens, prefix, suffix)
        static.tokens.copy_(tokens)
        static.position.fill_(step)
        with torch.inference_mode():
            replayed = static()
        assert torch.allclose(dynamic, replayed, atol=1e-5), step
        tokens = dynamic.argmax(dim=-1)


def test_auto_precision_on_cpu_is_never_a_gpu_type(tiny_model_dir):
    """CPU's auto is int8 where fbgemm runs (tests/engine/test_engine_precision.py), else
    exact fp32."""
    assert auto_precision("cpu") in ("int8", "fp32")
    assert load_engine(str(tiny_model_dir), device="cpu").precision == auto_precision("cpu")
