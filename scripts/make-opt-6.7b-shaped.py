#!/usr/bin/env python3
"""Writes a Hugging Face OPT directory with opt-6.7b's exact shapes and random float16 weights, for
measuring memory and decode speed at that size (`llmrec lm bench --model DIR --quantize`). Nothing
here is a trained model and nothing of it is ever committed: about 13.3 GB on disk.

    config.json                       facebook/opt-6.7b's configuration (32 layers, hidden 4096,
                                      FFN 16384, 32 heads, vocabulary 50272, 2048 positions)
    model-0000K-of-0000N.safetensors  float16 shards of at most ~2 GB, transformers' OPTForCausalLM
    model.safetensors.index.json      names (`model.decoder.…`), tied head (no lm_head)

Weights are uniform int8 values scaled to a standard deviation of 0.02 (LayerNorm weights 1, biases
0.0): cheap to generate and with the magnitudes of a real checkpoint.

Usage: python3 scripts/make-opt-6.7b-shaped.py OUT_DIR   (needs numpy and safetensors)
"""
import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import save_file

out = sys.argv[1] if len(sys.argv) > 1 else "opt-6.7b-shaped"
os.makedirs(out, exist_ok=True)
config = {
    "_name_or_path": "opt-6.7b-shaped-random", "activation_dropout": 0.0, "activation_function": "relu",
    "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": True,
    "dropout": 0.1, "enable_bias": True, "eos_token_id": 2, "ffn_dim": 16384, "hidden_size": 4096, "init_std": 0.02,
    "layerdrop": 0.0, "max_position_embeddings": 2048, "model_type": "opt", "num_attention_heads": 32,
    "num_hidden_layers": 32, "pad_token_id": 1, "torch_dtype": "float16", "use_cache": True, "vocab_size": 50272,
    "word_embed_proj_dim": 4096, "tie_word_embeddings": True,
}
with open(os.path.join(out, "config.json"), "w") as handle:
    json.dump(config, handle, indent=2)

h, f, vocabulary = config["hidden_size"], config["ffn_dim"], config["vocab_size"]
shapes = [("model.decoder.embed_tokens.weight", (vocabulary, h)),
          ("model.decoder.embed_positions.weight", (config["max_position_embeddings"] + 2, h))]
for layer in range(config["num_hidden_layers"]):
    base = f"model.decoder.layers.{layer}."
    for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
        shapes += [(base + f"self_attn.{projection}.weight", (h, h)), (base + f"self_attn.{projection}.bias", (h,))]
    shapes += [(base + "self_attn_layer_norm.weight", (h,)), (base + "self_attn_layer_norm.bias", (h,)),
               (base + "fc1.weight", (f, h)), (base + "fc1.bias", (f,)), (base + "fc2.weight", (h, f)), (base + "fc2.bias", (h,)),
               (base + "final_layer_norm.weight", (h,)), (base + "final_layer_norm.bias", (h,))]
shapes += [("model.decoder.final_layer_norm.weight", (h,)), ("model.decoder.final_layer_norm.bias", (h,))]

rng = np.random.default_rng(67)
scale = np.float16(0.02 * np.sqrt(3) / 127)


def tensor(name, shape):
    if len(shape) == 1:
        return np.full(shape, 1.0 if name.endswith("norm.weight") else 0.0, dtype=np.float16)
    return rng.integers(-127, 128, size=shape, dtype=np.int8).astype(np.float16) * scale


limit = 2 << 30
shards, current, size = [], [], 0
for name, shape in shapes:
    nbytes = 2 * int(np.prod(shape))
    if current and size + nbytes > limit:
        shards.append(current)
        current, size = [], 0
    current.append((name, shape))
    size += nbytes
shards.append(current)

started = time.time()
weight_map, total = {}, 0
for index, shard in enumerate(shards):
    file_name = f"model-{index + 1:05d}-of-{len(shards):05d}.safetensors"
    tensors = {name: tensor(name, shape) for name, shape in shard}
    save_file(tensors, os.path.join(out, file_name), metadata={"format": "pt"})
    for name, _ in shard:
        weight_map[name] = file_name
    total += sum(value.nbytes for value in tensors.values())
    elapsed = time.time() - started
    print(f"shard {index + 1}/{len(shards)}: {total / 2**30:.1f} GiB written, {elapsed:.0f}s, "
          f"ETA {elapsed / (index + 1) * (len(shards) - index - 1):.0f}s", file=sys.stderr)
with open(os.path.join(out, "model.safetensors.index.json"), "w") as handle:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, handle, indent=2)
print(json.dumps({"out": out, "bytes": total, "tensors": len(shapes), "shards": len(shards)}))
