#!/usr/bin/env python3
"""Writes the text-encoder parity fixtures that Tests/ModelsTests reads (see Fixtures/README.md there).

Two tiny random models of Hugging Face transformers' encoders (transformers' `modeling_bert.py` and `modeling_distilbert.py`), each in its
own folder:

  distilbert_tiny/  DistilBertModel: vocab 120, dim 32, 2 layers, 4 heads, FFN 64, 40 positions
  bert_tiny/        BertModel(add_pooling_layer=False): same sizes, 2 token types

with config.json (the full transformers config), model.safetensors (the float32 state dict, HF
names) and reference.safetensors: right-padded input ids, the last hidden state and the mean-pooled
sentence vectors, and the gradients of loss = sum(mean_pooled * input.pool_weights) for every
parameter of the last layer and for the last layer's input hidden states (what fine-tuning only the
top layer needs). Everything is computed in float64 from the float32 weights, in eval mode (no
dropout) with gradients on, and stored as float32.

Every parameter is drawn from a seeded generator rather than transformers' initialiser (std 0.02,
LayerNorm 1 and 0, biases 0), so that attention is far from uniform and every LayerNorm and bias
moves the outputs: weight matrices ~ N(0, 1/fan_in), embeddings ~ N(0, 1), LayerNorm gammas
~ 1 + 0.1 N(0, 1), LayerNorm betas and biases ~ 0.1 N(0, 1).

After writing, the script reloads every file, recomputes the reference and checks it is unchanged;
it prints the largest error of a float32 forward and backward, a guide for the Swift tests'
tolerance.

Needs torch, transformers and safetensors; works offline (no hub access).
Regenerate: python3 scripts/make-encoder-fixtures.py Tests/ModelsTests/Fixtures
"""

import json
import os
import struct
import sys

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

SEED = 20240612
LENGTHS = [12, 7, 3]
SEQUENCE = 12
SIZE_LIMIT = 200 * 1024

MODELS = {
    "distilbert_tiny": dict(
        config=lambda: DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                        max_position_embeddings=40, activation="gelu"),
        build=DistilBertModel,
        last_layer=lambda model: model.transformer.layer[-1],
        prefix="transformer.layer.1.",
    ),
    "bert_tiny": dict(
        config=lambda: BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, max_position_embeddings=40, type_vocab_size=2),
        build=lambda config: BertModel(config, add_pooling_layer=False),
        last_layer=lambda model: model.encoder.layer[-1],
        prefix="encoder.layer.1.",
    ),
}


def save_file(tensors: dict, path: str, metadata: dict) -> None:
    """safetensors, written here rather than by the safetensors package, whose header puts the
    metadata keys in a random order (regenerating would change the bytes): an 8-byte little-endian
    header length, the JSON header (metadata first, then the tensors in the given order) padded with
    spaces to a multiple of 8, then the raw little-endian data."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, tensor in tensors.items():
        blob = tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def randomise(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Draws every parameter, in named_parameters order (see the module docstring)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "LayerNorm" in name or "layer_norm" in name:
                param.copy_(1 + 0.1 * noise if name.endswith(".weight") else 0.1 * noise)
            elif "embeddings" in name:
                param.copy_(noise)
            elif name.endswith(".weight"):
                param.copy_(noise / param.shape[1] ** 0.5)
            else:
                param.copy_(0.1 * noise)


def make_inputs(vocab_size: int, hidden_size: int, generator: torch.Generator) -> dict:
    """Ids of real tokens drawn from 1..vocab-1, right-padded with 0; the pooling weights W."""
    ids = torch.zeros(len(LENGTHS), SEQUENCE, dtype=torch.int64)
    for row, length in enumerate(LENGTHS):
        ids[row, :length] = torch.randint(1, vocab_size, (length,), generator=generator)
    return {
        "input.ids": ids,
        "input.lengths": torch.tensor(LENGTHS, dtype=torch.int64),
        "input.pool_weights": torch.randn(len(LENGTHS), hidden_size, generator=generator),
    }


def reference(spec: dict, config, state: dict, inputs: dict) -> dict:
    """Last hidden state, mean pooling and the loss's gradients, in float64."""
    model = spec["build"](config)
    model.load_state_dict(state)
    model.double().eval()
    return run(model, spec, inputs, torch.float64)


def run(model: torch.nn.Module, spec: dict, inputs: dict, dtype: torch.dtype) -> dict:
    """Forward and backward of `model` (already in eval mode and in `dtype`); results as float32."""
    captured = {}

    def keep_input(_module, args):
        args[0].retain_grad()
        captured["input"] = args[0]

    hook = spec["last_layer"](model).register_forward_pre_hook(keep_input)
    ids, lengths = inputs["input.ids"], inputs["input.lengths"]
    mask = (torch.arange(ids.shape[1]) < lengths[:, None]).to(torch.int64)
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    hook.remove()
    weights = mask.to(dtype).unsqueeze(-1)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    loss = (pooled * inputs["input.pool_weights"].to(dtype)).sum()
    loss.backward()
    tensors = {
        "expected.hidden": hidden,
        "expected.mean_pooled": pooled,
        "expected.grad_input_last_layer": captured["input"].grad,
    }
    tensors.update({f"grad.{name}": param.grad for name, param in model.named_parameters()
                    if name.startswith(spec["prefix"])})
    return {name: t.detach().float().contiguous() for name, t in tensors.items()}


def write(folder: str, spec: dict, generator: torch.Generator) -> None:
    os.makedirs(folder, exist_ok=True)
    config = spec["config"]()
    model = spec["build"](config)
    randomise(model, generator)
    state = {name: t.contiguous() for name, t in model.state_dict().items()}

    inputs = make_inputs(config.vocab_size, config.hidden_size, generator)

    with open(os.path.join(folder, "config.json"), "w") as file:
        file.write(config.to_json_string(use_diff=False))
    generator_name = "scripts/make-encoder-fixtures.py"
    save_file(state, os.path.join(folder, "model.safetensors"), metadata={"generator": generator_name})
    metadata = {
        "generator": generator_name, "torch": torch.__version__, "seed": str(SEED),
        "computed": "float64 from the float32 weights, eval mode (no dropout); stored as float32",
        "loss": "sum(expected.mean_pooled * input.pool_weights)",
    }
    save_file({**inputs, **reference(spec, config, state, inputs)}, os.path.join(folder, "reference.safetensors"),
              metadata=metadata)


def check(folder: str, spec: dict) -> None:
    """Reloads the three files, recomputes, and prints the largest float32 errors and the sizes."""
    config_class = type(spec["config"]())
    config = config_class.from_json_file(os.path.join(folder, "config.json"))
    assert config.to_dict() == spec["config"]().to_dict(), f"{folder}: config.json differs"
    state = load_file(os.path.join(folder, "model.safetensors"))
    saved = load_file(os.path.join(folder, "reference.safetensors"))
    inputs = {k: v for k, v in saved.items() if k.startswith("input.")}
    again = reference(spec, config, state, inputs)
    assert set(again) == {k for k in saved if not k.startswith("input.")}
    worst = max((again[k] - saved[k]).abs().max().item() for k in again)
    assert worst == 0, f"{folder}: recomputed reference differs by {worst}"

    hidden, lengths = saved["expected.hidden"], saved["input.lengths"]
    mask = (torch.arange(hidden.shape[1]) < lengths[:, None]).unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    assert torch.allclose(pooled, saved["expected.mean_pooled"], atol=1e-6)

    model = spec["build"](config)
    model.load_state_dict(state)
    model.eval()
    single = run(model, spec, inputs, torch.float32)
    float32_error = {
        "hidden": (single["expected.hidden"] - saved["expected.hidden"]).abs().max().item(),
        "grad_input": (single["expected.grad_input_last_layer"] - saved["expected.grad_input_last_layer"])
        .abs().max().item(),
        "grads": max((single[k] - saved[k]).abs().max().item() for k in single if k.startswith("grad.")),
    }
    sizes = {name: os.path.getsize(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}
    assert sum(sizes.values()) < SIZE_LIMIT, f"{folder}: {sum(sizes.values())} bytes"
    grads = sum(1 for k in saved if k.startswith("grad."))
    print(f"{folder}: {grads} last-layer gradients; float32 forward/backward vs reference max |err| "
          + ", ".join(f"{k} {v:.2e}" for k, v in float32_error.items())
          + "; " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in sizes.items()))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures"
    generator = torch.Generator().manual_seed(SEED)
    for name, spec in MODELS.items():
        write(os.path.join(out, name), spec, generator)
        check(os.path.join(out, name), spec)


if __name__ == "__main__":
    main()
