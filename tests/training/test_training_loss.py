"""The fused, chunked training loss (writer.training.loss) is the model's own loss."""

from __future__ import annotations

import contextlib

import pytest
import torch

from writer.training.loss import BF16_FLAGS, LanguageModelLoss, bf16_autocast


def _loss_and_grads(model, loss_of, ids):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same dropout masks for both losses
    loss = loss_of(ids)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss), grads


def _model(model_dir, method: str):
    """The tiny GPT-2 in training mode, whole or with a LoRA adapter on c_attn."""
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(model_dir)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM"
        )
        model = get_peft_model(model, config)
    model.train()
    return model


@pytest.mark.parametrize("method", ["full", "lora"])
def test_the_chunked_loss_and_its_gradients_are_the_models_own(tiny_model_dir, method) -> None:
    model = _model(tiny_model_dir, method)
    ids = torch.randint(0, 400, (3, 40), generator=torch.Generator().manual_seed(0))
    fused = LanguageModelLoss(model, chunk=25)  # chunks that split rows unevenly
    assert fused.body is not None
    own, own_grads = _loss_and_grads(model, lambda x: model(input_ids=x, labels=x).loss, ids)
    ours, our_grads = _loss_and_grads(model, fused, ids)
    assert ours == pytest.approx(own, rel=1e-6)
    assert set(our_grads) == set(own_grads)
    for name, grad in own_grads.items():  # tied embedding and lm_head included (full)
        torch.testing.assert_close(our_grads[name], grad, rtol=1e-4, atol=1e-6)
    assert fused.buffers.logits is not None and fused.buffers.logits.shape[0] == 25


def test_bf16_needs_bf16_instructions_on_a_cpu(monkeypatch) -> None:
    import writer.training.loss as loss

    assert isinstance(bf16_autocast(torch.device("cpu"), False), contextlib.nullcontext)
    monkeypatch.setattr(loss, "cpu_flags", lambda: frozenset({"avx2"}))
    with pytest.raises(Exception, match="--bf16 needs a CPU"):
        bf16_autocast(torch.device("cpu"), True)
    monkeypatch.setattr(loss, "cpu_flags", lambda: BF16_FLAGS)
    with bf16_autocast(torch.device("cpu"), True):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.bfloat16


@pytest.mark.parametrize("method", ["full", "lora"])
def test_under_bf16_autocast_the_loss_is_the_models_own_to_bf16_rounding(
    tiny_model_dir, method
) -> None:
    model = _model(tiny_model_dir, method)
    ids = torch.randint(0, 400, (3, 40), generator=torch.Generator().manual_seed(0))
    fused = LanguageModelLoss(model, chunk=25)

    def autocast(loss_of):
        def run(x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return loss_of(x)

        return run

    own, own_grads = _loss_and_grads(
        model, autocast(lambda x: model(input_ids=x, labels=x).loss), ids
    )
    ours, our_grads = _loss_and_grads(model, autocast(fused), ids)
    assert ours == pytest.approx(own, rel=2e-3)
    assert set(our_grads) == set(own_grads)
    for name, grad in own_grads.items():
        assert grad.dtype == torch.float32  # the trained weights keep float32 gradients
        if not grad.any():  # LoRA's A before its B has moved off zero
            assert not our_grads[name].any(), name
            continue
        cos = torch.nn.functional.cosine_similarity(our_grads[name].flatten(), grad.flatten(), 0)
        assert cos > 0.99, name
    # A frozen output layer is cast to bf16 once and kept; a trained one is not kept.
    held = fused.buffers.low_weight
    assert (held is not None) == (method == "lora")


def test_bf16_is_available_where_the_cpu_multiplies_bf16(monkeypatch) -> None:
    import writer.training.loss as loss

    monkeypatch.setattr(loss, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert not loss.bf16_available(torch.device("cpu"))
    monkeypatch.setattr(loss, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert loss.bf16_available(torch.device("cpu"))
