#!/usr/bin/env python3
"""Writes the tiny Llama fixture that Tests/ModelsTests/DecoderParityTests reads: a random
transformers LlamaForCausalLM (grouped-query attention, tied head) as a Hugging Face directory
(config.json + model.safetensors), and reference logits computed in float64.

Regenerate: python3 scripts/make-decoder-fixtures.py Tests/ModelsTests/Fixtures/llama_tiny
Needs torch, transformers and safetensors.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures/llama_tiny"
os.makedirs(out, exist_ok=True)
torch.manual_seed(7)
config = LlamaConfig(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-5, max_position_embeddings=64,
    tie_word_embeddings=True, attention_bias=False, mlp_bias=False)
model = LlamaForCausalLM(config).eval()
with torch.no_grad():
    for name, parameter in model.named_parameters():
        if parameter.dim() >= 2:
            parameter.copy_(torch.randn_like(parameter) / parameter.shape[-1] ** 0.5)
        else:  # RMSNorm weights away from 1, so they matter
            parameter.copy_(1 + 0.1 * torch.randn_like(parameter))

state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items() if name != "lm_head.weight"}
save_file(state, os.path.join(out, "model.safetensors"))
with open(os.path.join(out, "config.json"), "w") as handle:
    handle.write(config.to_json_string(use_diff=False))

ids = torch.tensor([[3, 17, 42, 5, 9, 33, 60, 1, 28, 11]])
double = LlamaForCausalLM(config).eval().double()
double.load_state_dict({**state, "lm_head.weight": state["model.embed_tokens.weight"]}, strict=False)
double.tie_weights()
with torch.no_grad():
    logits = double(ids).logits[0].float()
double.generation_config.eos_token_id = None
double.generation_config.pad_token_id = 0
with torch.no_grad():
    greedy = double.generate(ids[:, :4], max_new_tokens=8, do_sample=False, min_length=0)[0, 4:]
    penalised = double.generate(
        ids[:, :4], max_new_tokens=8, do_sample=False, repetition_penalty=1.5, min_length=0)[0, 4:]
reference = {
    "input.ids": ids[0].to(torch.int64), "expected.logits": logits.contiguous(),
    "expected.greedy": greedy.to(torch.int64).contiguous(), "expected.greedy_penalty_1_5": penalised.to(torch.int64).contiguous()}
save_file(reference, os.path.join(out, "reference.safetensors"), metadata={
    "generator": "scripts/make-decoder-fixtures.py", "torch": torch.__version__,
    "note": "logits of every position for input.ids, computed in float64 from the float32 weights; greedy: "
            "8 new tokens after input.ids[:4] (no EOS stop: eos_token_id 2 may appear), with and without "
            "repetition_penalty 1.5 (Hugging Face: over prompt and generated ids)"})
print(f"wrote {out}", file=sys.stderr)
