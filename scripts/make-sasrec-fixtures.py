#!/usr/bin/env python3
"""Writes the SASRec parity fixtures that Tests/ModelsTests reads (see Fixtures/README.md there).

Two tiny models of scripts/sasrec_torch.py (= pmixer/SASRec.pytorch @ 30c43cf, as A-LLMRec uses it),
each in its own folder:

  sasrec_tiny/    item_num=30, d=16, 2 blocks, 1 head,  maxlen=10
  sasrec_heads2/  item_num=25, d=16, 1 block,  2 heads, maxlen=8

with model.safetensors (the float32 state dict), model.pth (the original's checkpoint format,
`torch.save([kwargs, state_dict])`) and reference.safetensors (inputs, outputs and gradients of the
loss computed in float64 from the float32 weights, train mode with dropout off).

Weights are initialised as the original does (xavier_normal_ on >= 2-D parameters), then the 1-D
parameters that torch would leave at 0 or 1 (LayerNorm gamma/beta, attention biases) are drawn at
random, so that every parameter changes the outputs a parity test compares.

After writing, the script reloads every file, recomputes the outputs and checks them; it prints the
largest float32 error, a guide for the tolerance of the Swift test.

Needs torch and safetensors (pip install torch safetensors).
Regenerate: python3 scripts/make-sasrec-fixtures.py Tests/ModelsTests/Fixtures
"""

import argparse
import json
import os
import struct
import sys

import torch
from safetensors.torch import load_file

from sasrec_torch import SASRec, init_like_original, make_args, sasrec_loss

SEED = 20240415
BATCH = 4
CANDIDATES = 7

CONFIGS = {
    # history lengths: one sequence of a single item (all but the last slot padded), one that fills
    # every slot, two in between.
    "sasrec_tiny": dict(item_num=30, hidden_units=16, num_blocks=2, num_heads=1, maxlen=10, lengths=[1, 10, 5, 3]),
    "sasrec_heads2": dict(item_num=25, hidden_units=16, num_blocks=1, num_heads=2, maxlen=8, lengths=[1, 8, 4, 6]),
}
# What A-LLMRec trains with; stored in model.pth. The reference outputs use dropout 0.
DROPOUT = 0.5


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


def randomise_vectors(model: SASRec, generator: torch.Generator) -> None:
    """LayerNorm gamma ~ 1 + 0.1 N(0, 1); LayerNorm beta and attention biases ~ 0.1 N(0, 1)."""
    for name, param in model.named_parameters():
        if "layernorm" in name:
            noise = 0.1 * torch.randn(param.shape, generator=generator)
            param.data = 1 + noise if name.endswith(".weight") else noise
        elif name.endswith(("in_proj_bias", "out_proj.bias")):
            param.data = 0.1 * torch.randn(param.shape, generator=generator)


def training_rows(item_num: int, maxlen: int, lengths: list[int], generator: torch.Generator):
    """The original sampler's rows for users whose training sequences hold length+1 distinct items:
    seq = train[:-1], pos = train[1:], both right-aligned; neg = a random item outside train at
    every position with pos != 0, 0 elsewhere."""
    seq = torch.zeros(len(lengths), maxlen, dtype=torch.int64)
    pos = torch.zeros_like(seq)
    neg = torch.zeros_like(seq)
    for row, length in enumerate(lengths):
        train = torch.randperm(item_num, generator=generator)[: length + 1] + 1
        seq[row, maxlen - length:] = train[:-1]
        pos[row, maxlen - length:] = train[1:]
        seen = set(train.tolist())
        outside = torch.tensor([i for i in range(1, item_num + 1) if i not in seen])
        neg[row, maxlen - length:] = outside[torch.randint(len(outside), (length,), generator=generator)]
    return seq, pos, neg


def reference(state: dict, config: dict, inputs: dict) -> dict:
    """Outputs and gradients in float64, train mode, dropout off."""
    model = SASRec(BATCH, config["item_num"], model_args(config, dropout_rate=0.0))
    model.load_state_dict(state)
    model.double().train()
    log_feats, pos_logits, neg_logits = model(inputs["input.seq"], inputs["input.pos"], inputs["input.neg"])
    loss = sasrec_loss(pos_logits, neg_logits, inputs["input.pos"])
    loss.backward()
    user_repr = log_feats[:, -1, :]
    candidate_scores = (model.item_emb(inputs["input.candidates"]) * user_repr.unsqueeze(1)).sum(-1)
    tensors = {
        "expected.log_feats": log_feats, "expected.pos_logits": pos_logits, "expected.neg_logits": neg_logits,
        "expected.loss": loss, "expected.user_repr": user_repr, "expected.candidate_scores": candidate_scores,
    }
    tensors.update({f"grad.{name}": param.grad for name, param in model.named_parameters()})
    return {name: t.detach().float().contiguous() for name, t in tensors.items()}


def model_args(config: dict, dropout_rate: float) -> argparse.Namespace:
    return make_args(config["hidden_units"], config["num_blocks"], config["num_heads"], config["maxlen"], dropout_rate)


def write(folder: str, config: dict, generator: torch.Generator) -> None:
    os.makedirs(folder, exist_ok=True)
    args = model_args(config, DROPOUT)
    model = SASRec(BATCH, config["item_num"], args)
    init_like_original(model)
    randomise_vectors(model, generator)
    state = {name: t.contiguous() for name, t in model.state_dict().items()}

    seq, pos, neg = training_rows(config["item_num"], config["maxlen"], config["lengths"], generator)
    candidates = torch.stack([torch.randperm(config["item_num"], generator=generator)[:CANDIDATES] + 1
                              for _ in range(BATCH)])
    inputs = {"input.seq": seq, "input.pos": pos, "input.neg": neg, "input.candidates": candidates}

    metadata = {
        "generator": "scripts/make-sasrec-fixtures.py", "torch": torch.__version__, "seed": str(SEED),
        "computed": "float64 from the float32 weights, train mode, dropout 0; stored as float32",
    }
    save_file(state, os.path.join(folder, "model.safetensors"), metadata={"generator": metadata["generator"]})
    torch.save([{"user_num": BATCH, "item_num": config["item_num"], "args": args}, state],
               os.path.join(folder, "model.pth"))
    save_file({**inputs, **reference(state, config, inputs)}, os.path.join(folder, "reference.safetensors"),
              metadata=metadata)


def check(folder: str, config: dict) -> None:
    """Reloads the three files, recomputes, and prints the largest errors."""
    kwargs, pth_state = torch.load(os.path.join(folder, "model.pth"), weights_only=False)
    state = load_file(os.path.join(folder, "model.safetensors"))
    assert kwargs["item_num"] == config["item_num"] and vars(kwargs["args"]) == vars(model_args(config, DROPOUT))
    assert set(pth_state) == set(state) and all(torch.equal(pth_state[k], state[k]) for k in state)
    saved = load_file(os.path.join(folder, "reference.safetensors"))
    inputs = {k: v for k, v in saved.items() if k.startswith("input.")}
    again = reference(state, config, inputs)
    assert set(again) == {k for k in saved if not k.startswith("input.")}
    worst = max((again[k] - saved[k]).abs().max().item() for k in again)
    assert worst == 0, f"{folder}: recomputed reference differs by {worst}"

    model = SASRec(BATCH, config["item_num"], model_args(config, dropout_rate=0.0))
    model.load_state_dict(state)
    log_feats, pos_logits, neg_logits = model(inputs["input.seq"], inputs["input.pos"], inputs["input.neg"])
    loss = sasrec_loss(pos_logits, neg_logits, inputs["input.pos"])
    loss.backward()
    float32_error = {
        "log_feats": (log_feats - saved["expected.log_feats"]).abs().max().item(),
        "loss": (loss - saved["expected.loss"]).abs().item(),
        "grads": max((p.grad - saved[f"grad.{n}"]).abs().max().item() for n, p in model.named_parameters()),
    }
    sizes = {name: os.path.getsize(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}
    print(f"{folder}: loss {saved['expected.loss'].item():.6f}; float32 forward vs reference max |err| "
          + ", ".join(f"{k} {v:.2e}" for k, v in float32_error.items())
          + "; " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in sizes.items()))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures"
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    for name, config in CONFIGS.items():
        write(os.path.join(out, name), config, generator)
        check(os.path.join(out, name), config)


if __name__ == "__main__":
    main()
