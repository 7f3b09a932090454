#!/usr/bin/env python3
"""How much llama.cpp's own rounding decides SmolLM2's logits on the requantised K-quant files.

    python3 scripts/llamacpp-rounding.py [--models DIR] [--trials N]

For each file that `scripts/make-kquant-models.py models` writes and each prompt recorded in
Tests/ModelsTests/Fixtures/smollm2_kquants_llamacpp.json, a float64 numpy forward of the Llama decoder
over the weights as gguf-py dequantises them runs twice:

- exactly (no rounding but float32 stores): it must reproduce the fixture's transformers logits, which
  checks the forward itself;
- with the roundings llama.cpp's CPU backend applies (ggml's `vec_dot_type` per weight format: each
  activation row quantised to Q8_0 per 32 values for Q5_0/Q8_0 weights, Q8_1 for Q5_1, Q8_K per 256
  values for the K-quants; keys and values stored as Float16; queries and attention weights converted
  to Float16 for their products).

It prints, per prompt, the largest first-token logit difference (over the fixture's 256 recorded ids):
exact against llama.cpp's recorded logits, the emulation against them, and how far each forward moves
when every input embedding value changes by one float32 unit in the last place (random sign; the most
of `--trials` draws). The exact forward does not move; the rounded one moves by as much as it lies from
llama.cpp: with 8-bit activation blocks that SmolLM2's outlier channels dominate, a one-ulp change flips
roundings whose quantum is large, so llama.cpp's logits are fixed only to that spread by its arithmetic.

Needs numpy and gguf (pip).
"""
import argparse
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize

PROMPT_FIXTURE = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures",
                              "smollm2_kquants_llamacpp.json")


def float16(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float64)


def as_float32(x):
    return np.asarray(x, np.float32).astype(np.float64)


def quantize_q8_0(x):
    """ggml's quantize_row_q8_0 (AVX2 form): scale amax/127 stored as Float16, values rounded to even."""
    x = np.asarray(x, np.float32)
    blocks = x.reshape(-1, 32)
    amax = np.abs(blocks).max(1, keepdims=True)
    inverse = np.where(amax != 0, np.float32(127) / np.where(amax == 0, 1, amax), 0).astype(np.float32)
    values = np.rint((blocks * inverse).astype(np.float32))
    return (float16(amax / np.float32(127)) * values).reshape(x.shape)


def quantize_q8_k(x):
    """ggml's quantize_row_q8_K: per 256 values, scale 1/(-127/max) by the signed largest magnitude, Float32."""
    x = np.asarray(x, np.float32)
    blocks = x.reshape(-1, 256)
    largest = blocks[np.arange(len(blocks)), np.abs(blocks).argmax(1)][:, None]
    inverse = np.where(largest != 0, np.float32(-127) / np.where(largest == 0, 1, largest), 0).astype(np.float32)
    values = np.minimum(127, np.rint((inverse * blocks).astype(np.float32)))
    scale = np.where(inverse != 0, np.float32(1) / np.where(inverse == 0, 1, inverse), 0).astype(np.float32)
    return (scale.astype(np.float64) * values).reshape(x.shape)


# ggml's vec_dot_type for each weight format (Q8_1 rounds the values as Q8_0 does).
ACTIVATION_ROUNDING = {T.Q4_0: quantize_q8_0, T.Q5_0: quantize_q8_0, T.Q8_0: quantize_q8_0, T.Q4_1: quantize_q8_0,
                       T.Q5_1: quantize_q8_0, T.Q4_K: quantize_q8_k, T.Q5_K: quantize_q8_k, T.Q6_K: quantize_q8_k}


class Decoder:
    """A Llama-family GGUF (q/k rows in GGUF's adjacent-pair RoPE order), weights dequantised to float64."""

    def __init__(self, path):
        reader = GGUFReader(path)
        fields = {name: field.parts[field.data[0]] for name, field in reader.fields.items() if field.data}
        architecture = bytes(fields["general.architecture"]).decode()
        value = lambda key: fields[f"{architecture}.{key}"][0]
        self.layers = int(value("block_count"))
        self.heads = int(value("attention.head_count"))
        self.kv_heads = int(value("attention.head_count_kv"))
        self.head_size = int(value("embedding_length")) // self.heads
        self.rope_base = float(value("rope.freq_base"))
        self.epsilon = float(value("attention.layer_norm_rms_epsilon"))
        self.weights = {}
        for tensor in reader.tensors:
            values = dequantize(tensor.data, tensor.tensor_type).astype(np.float64)
            self.weights[tensor.name] = (values.reshape([int(n) for n in reversed(tensor.shape)]), tensor.tensor_type)

    def logits(self, tokens, rounded, embedding_noise=None):
        """The next-token logits after `tokens`; `rounded` applies llama.cpp's roundings."""
        def linear(name, x):
            weight, kind = self.weights[name]
            if rounded and kind in ACTIVATION_ROUNDING:
                x = ACTIVATION_ROUNDING[kind](x)
            return as_float32(x @ weight.T)

        def norm(x, name):
            squares = np.sum(as_float32(x) ** 2, -1, keepdims=True) / x.shape[-1]
            return as_float32(as_float32(x) / np.sqrt(squares + self.epsilon)) * self.weights[name][0]

        count, size = len(tokens), self.head_size
        angles = np.arange(count)[:, None] * self.rope_base ** (-np.arange(0, size, 2) / size)[None, :]
        cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]

        def rope(v):
            even, odd = v[..., 0::2], v[..., 1::2]
            out = np.empty_like(v)
            out[..., 0::2], out[..., 1::2] = even * cos - odd * sin, even * sin + odd * cos
            return as_float32(out)

        x = self.weights["token_embd.weight"][0][tokens]
        if embedding_noise is not None:
            x = as_float32(x * (1 + embedding_noise))
        mask = np.triu(np.full((count, count), -np.inf), 1)
        group = self.heads // self.kv_heads
        for layer in range(self.layers):
            prefix = f"blk.{layer}."
            h = norm(x, prefix + "attn_norm.weight")
            q = rope(linear(prefix + "attn_q.weight", h).reshape(count, self.heads, size))
            k = rope(linear(prefix + "attn_k.weight", h).reshape(count, self.kv_heads, size))
            v = linear(prefix + "attn_v.weight", h).reshape(count, self.kv_heads, size)
            if rounded:
                q, k, v = float16(q), float16(k), float16(v)
            mixed = np.empty((count, self.heads, size))
            for head in range(self.heads):
                scores = as_float32(q[:, head] @ k[:, head // group].T) / np.sqrt(size) + mask
                weights = np.exp(scores - scores.max(1, keepdims=True))
                weights = as_float32(weights / weights.sum(1, keepdims=True))
                mixed[:, head] = (float16(weights) if rounded else weights) @ v[:, head // group]
            x = x + linear(prefix + "attn_output.weight", mixed.reshape(count, -1))
            h = norm(x, prefix + "ffn_norm.weight")
            gate, up = linear(prefix + "ffn_gate.weight", h), linear(prefix + "ffn_up.weight", h)
            x = x + linear(prefix + "ffn_down.weight", as_float32(gate / (1 + np.exp(-gate)) * up))
        head = "output.weight" if "output.weight" in self.weights else "token_embd.weight"
        return linear(head, norm(x[-1:], "output_norm.weight"))[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = os.environ.get("LLMREC_HOME") or os.path.join(cache, "llmrec")
    parser.add_argument("--models", default=os.path.join(home, "assets", "smollm2-kquants"))
    parser.add_argument("--reference", default=PROMPT_FIXTURE)
    parser.add_argument("--trials", type=int, default=3)
    arguments = parser.parse_args()
    with open(arguments.reference) as handle:
        reference = json.load(handle)
    rng = np.random.default_rng(0)
    ulp = np.finfo(np.float32).eps
    print("first-token logits, largest difference over the recorded ids: exact | llama.cpp-rounded | "
          "move from one ulp of the input, exact / rounded")
    for mix, recorded in reference["mixes"].items():
        decoder = Decoder(os.path.join(arguments.models, f"SmolLM2-135M-Instruct.{mix}.gguf"))
        for case in recorded["cases"]:
            ids = [index for index, _ in case["logits"]]
            llama = np.array([value for _, value in case["logits"]])
            transformers = dict(case["exact_logits"])
            exact = decoder.logits(case["tokens"], rounded=False)[ids]
            rounded = decoder.logits(case["tokens"], rounded=True)[ids]
            check = np.abs(exact - np.array([transformers[index] for index in ids])).max()
            if check > 1e-3:
                raise SystemExit(f"{mix} {case['prompt']!r}: the exact forward is {check:.2e} from transformers")
            moves = {False: 0.0, True: 0.0}
            for _ in range(arguments.trials):
                width = decoder.weights["token_embd.weight"][0].shape[1]
                noise = ulp * rng.choice([-1.0, 1.0], size=(len(case["tokens"]), width))
                for kind, base in ((False, exact), (True, rounded)):
                    moved = decoder.logits(case["tokens"], rounded=kind, embedding_noise=noise)[ids]
                    moves[kind] = max(moves[kind], float(np.abs(moved - base).max()))
            print(f"{mix} {case['prompt']!r}: {np.abs(exact - llama).max():.2f} | {np.abs(rounded - llama).max():.2f}"
                  f" | {moves[False]:.3f} / {moves[True]:.2f}", flush=True)


if __name__ == "__main__":
    main()
