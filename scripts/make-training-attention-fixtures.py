#!/usr/bin/env python3
"""Writes the long-prompt training fixture that Tests/ModelsTests/TrainingAttentionTests.swift reads:
decoder_training/long_llama.safetensors. Two prompts on the frozen decoder of llama_tiny/ (d = 32,
64 positions), long enough that the training attention's causal blocks (32 query rows) split them:

  prompt A  60 tokens, soft input vectors at positions 5, 33 and 47, outputs at rows 20, 40 and 59
  prompt B  45 tokens, soft input vectors at positions 2 and 40, output at row 44

Each prompt is laid out as inputs_embeds = E[tokens] with its soft rows replaced; its outputs are
the decoder's last_hidden_state (after the final norm) at the output rows. With `weights`
[4, 32] (A's three outputs, then B's), loss = sum(weights * outputs); stored: the outputs
(`A.states`, `B.states`) and d loss / d inputs_embeds of every row (`A.grad`, `B.grad`), computed
in float64 from the float32 (stored) parameters and inputs, stored as float32, and checked against
central finite differences along a random direction. Reuses the decoder loading and the
safetensors writer of scripts/make-allmrec-fixtures.py.
Needs torch, transformers and safetensors; works offline.
Regenerate: python3 scripts/make-training-attention-fixtures.py Tests/ModelsTests/Fixtures
"""

import importlib.util
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

spec = importlib.util.spec_from_file_location(
    "allmrec_fixtures", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-allmrec-fixtures.py"))
allmrec = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allmrec)

SEED = 20261207
DECODER = dict(folder="llama_tiny", config=LlamaConfig, build=LlamaForCausalLM)
PROMPTS = {"A": dict(length=60, soft=[5, 33, 47], outputs=[20, 40, 59]), "B": dict(length=45, soft=[2, 40], outputs=[44])}


def make_inputs(root: str) -> dict:
    torch.manual_seed(SEED)
    model = allmrec.load_decoder(root, DECODER, torch.float32)
    vocab, width = model.get_input_embeddings().weight.shape
    tensors = {}
    for name, prompt in PROMPTS.items():
        tensors[f"{name}.tokens"] = torch.randint(3, vocab, (prompt["length"],))
        tensors[f"{name}.soft_positions"] = torch.tensor(prompt["soft"], dtype=torch.int64)
        tensors[f"{name}.soft_vectors"] = torch.randn(len(prompt["soft"]), width)
        tensors[f"{name}.outputs"] = torch.tensor(prompt["outputs"], dtype=torch.int64)
    tensors["weights"] = torch.randn(sum(len(p["outputs"]) for p in PROMPTS.values()), width)
    return allmrec.as_stored(tensors)


def rows_of(model, inputs: dict, name: str, dtype) -> torch.Tensor:
    rows = model.get_input_embeddings().weight[inputs[f"{name}.tokens"]].clone()
    rows[inputs[f"{name}.soft_positions"]] = inputs[f"{name}.soft_vectors"].to(dtype)
    return rows


def states(model, rows: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    mask = torch.ones(1, rows.shape[0], dtype=torch.int64)
    return model.model(inputs_embeds=rows[None], attention_mask=mask).last_hidden_state[0, outputs]


def reference(root: str, inputs: dict, check: bool) -> dict:
    model = allmrec.load_decoder(root, DECODER, torch.float64)
    rows = {name: rows_of(model, inputs, name, torch.float64).requires_grad_(True) for name in PROMPTS}
    weights = inputs["weights"].to(torch.float64)

    def loss_and_states():
        outputs = {name: states(model, rows[name], inputs[f"{name}.outputs"]) for name in PROMPTS}
        return (weights * torch.cat([outputs["A"], outputs["B"]])).sum(), outputs

    loss, outputs = loss_and_states()
    loss.backward()
    result = {f"{name}.states": outputs[name] for name in PROMPTS}
    result.update({f"{name}.grad": rows[name].grad for name in PROMPTS})
    if check:
        params = [rows[name] for name in PROMPTS]
        allmrec.directional_check(lambda: loss_and_states()[0], params, [p.grad for p in params], "long prompts")
    return allmrec.as_stored(result)


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures"
    folder = os.path.join(root, "decoder_training")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "long_llama.safetensors")
    inputs = make_inputs(root)
    tensors = {**inputs, **reference(root, inputs, True)}
    metadata = {"generator": "scripts/make-training-attention-fixtures.py", "torch": torch.__version__, "seed": str(SEED),
                "decoder": "llama_tiny (model.safetensors), eval mode, frozen",
                "computed": "float64 from the float32 parameters; stored as float32"}
    allmrec.save_file(tensors, path, metadata)
    saved = load_file(path)
    again = reference(root, inputs, False)
    worst = max((again[k] - saved[k]).abs().max().item() for k in again)
    assert worst == 0, f"recomputed reference differs by {worst}"
    size = os.path.getsize(path)
    assert size < allmrec.SIZE_LIMIT, f"{path} is {size} bytes"
    print(f"wrote {path} ({size} bytes)")


if __name__ == "__main__":
    main()
