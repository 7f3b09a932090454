#!/usr/bin/env python3
"""Writes the tiny decoder fixtures that Tests/ModelsTests/DecoderParityTests reads, each a random
transformers model saved as a Hugging Face directory (config.json + model.safetensors) with
reference logits and greedy generations computed in float64:
  llama_tiny   LlamaForCausalLM, grouped-query attention (4 heads, 2 key/value heads), tied head
  opt_tiny     OPTForCausalLM, pre-LayerNorm (as opt-125m ... opt-6.7b), tied head
  opt_postln   OPTForCausalLM, post-LayerNorm with project_in/project_out (as opt-350m)
  opt_bin      opt_tiny's weights as float16 `pytorch_model.bin` shards with an index (as opt-6.7b
               ships them), model.decoder. names; its reference is opt_tiny's with the fp16 rounding
  llama3_tiny  LlamaForCausalLM with Llama 3.x RoPE scaling ("rope_type": "llama3", an original context
               of 16, so that every kind of wavelength occurs) and 80 input ids: positions past 64
  qwen2_tiny   Qwen2ForCausalLM (biases on q, k and v), 80 input ids

Regenerate: python3 scripts/make-decoder-fixtures.py Tests/ModelsTests/Fixtures [NAME...]
(no NAME: all of them). Needs torch, transformers and safetensors.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM, Qwen2Config, Qwen2ForCausalLM

root = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures"
selected = set(sys.argv[2:])


def wanted(name):
    return not selected or name in selected


def write_fixture(name, config, model_class, seed, ids=(3, 17, 42, 5, 9, 33, 60, 1, 28, 11)):
    if not wanted(name):
        return
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() >= 2:
                parameter.copy_(torch.randn_like(parameter) / parameter.shape[-1] ** 0.5)
            else:  # norm weights and biases away from 1 and 0, so they matter
                parameter.copy_(1 + 0.1 * torch.randn_like(parameter))

    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items() if name != "lm_head.weight"}
    save_file(state, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as handle:
        handle.write(config.to_json_string(use_diff=False))

    ids = torch.tensor([list(ids)])
    double = model_class(config).eval().double()
    embed_name = [key for key in state if key.endswith("embed_tokens.weight")][0]
    double.load_state_dict({**state, "lm_head.weight": state[embed_name]}, strict=False)
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


write_fixture("llama_tiny", LlamaConfig(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-5, max_position_embeddings=64,
    tie_word_embeddings=True, attention_bias=False, mlp_bias=False), LlamaForCausalLM, 7)
write_fixture("opt_tiny", OPTConfig(
    vocab_size=64, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
    max_position_embeddings=64, word_embed_proj_dim=32, do_layer_norm_before=True, activation_function="relu",
    tie_word_embeddings=True, enable_bias=True, pad_token_id=1, bos_token_id=2, eos_token_id=2), OPTForCausalLM, 8)
write_fixture("opt_postln", OPTConfig(
    vocab_size=64, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
    max_position_embeddings=64, word_embed_proj_dim=16, do_layer_norm_before=False, activation_function="relu",
    tie_word_embeddings=True, enable_bias=True, pad_token_id=1, bos_token_id=2, eos_token_id=2), OPTForCausalLM, 9)


def write_sharded_bin(source, name):
    """The fixture `source` as two float16 pytorch_model-0000N-of-00002.bin shards plus an index."""
    if not wanted(name):
        return
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    from safetensors.torch import load_file
    state = {key: tensor.half() for key, tensor in load_file(os.path.join(root, source, "model.safetensors")).items()}
    keys = sorted(state)
    halves = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
    weight_map = {}
    for index, part in enumerate(halves, 1):
        shard = f"pytorch_model-0000{index}-of-00002.bin"
        torch.save({key: state[key] for key in part}, os.path.join(out, shard))
        weight_map.update({key: shard for key in part})
    with open(os.path.join(out, "pytorch_model.bin.index.json"), "w") as handle:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, handle, indent=1, sort_keys=True)
    with open(os.path.join(root, source, "config.json")) as handle:
        config = handle.read()
    with open(os.path.join(out, "config.json"), "w") as handle:
        handle.write(config)
    print(f"wrote {out}", file=sys.stderr)


write_sharded_bin("opt_tiny", "opt_bin")

# 80 ids: positions past 64, where RoPE scaling and biases would show.
long_ids = [(7 * index + 3) % 64 for index in range(80)]
write_fixture("llama3_tiny", LlamaConfig(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-5, max_position_embeddings=128,
    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 16},
    tie_word_embeddings=True, attention_bias=False, mlp_bias=False), LlamaForCausalLM, 10, long_ids)
write_fixture("qwen2_tiny", Qwen2Config(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6, max_position_embeddings=128,
    tie_word_embeddings=True, use_sliding_window=False), Qwen2ForCausalLM, 11, long_ids)


def write_continuations(name, model_class, config_class):
    """continuations.safetensors: log-likelihoods (natural log, summed over each continuation's tokens)
    of three continuations after a shared prefix, from the fixture's own weights in float64, as
    `llmrec lm score` and A-LLMRec's ranking mode compute them."""
    if not wanted(name):
        return
    from safetensors.torch import load_file
    out = os.path.join(root, name)
    with open(os.path.join(out, "config.json")) as handle:
        config = config_class(**json.load(handle))
    state = load_file(os.path.join(out, "model.safetensors"))
    model = model_class(config).eval().double()
    embed_name = [key for key in state if key.endswith("embed_tokens.weight")][0]
    model.load_state_dict({**state, "lm_head.weight": state[embed_name]}, strict=False)
    model.tie_weights()
    prefix = [3, 17, 42, 5]
    continuations = [[9, 33, 60, 1, 28, 11], [5, 9, 33], [60]]
    scores = []
    with torch.no_grad():
        for continuation in continuations:
            logits = model(torch.tensor([prefix + continuation])).logits[0]
            logprobs = torch.log_softmax(logits, dim=-1)
            scores.append(sum(float(logprobs[len(prefix) + i - 1, token]) for i, token in enumerate(continuation)))
    save_file({
        "input.prefix": torch.tensor(prefix, dtype=torch.int64),
        "input.continuations": torch.tensor(sum(continuations, []), dtype=torch.int64),
        "input.lengths": torch.tensor([len(c) for c in continuations], dtype=torch.int64),
        "expected.log_likelihoods": torch.tensor(scores, dtype=torch.float64),
    }, os.path.join(out, "continuations.safetensors"), metadata={"generator": "scripts/make-decoder-fixtures.py"})
    print(f"wrote {out}/continuations.safetensors: {scores}", file=sys.stderr)


def write_gguf(name, architecture):
    """model.gguf beside the Hugging Face files: the same Float32 weights under llama.cpp's names, as
    convert_hf_to_gguf.py writes them (for "llama", q_proj and k_proj rows permuted for adjacent-pair
    RoPE, and Llama 3.x scaling as `rope_freqs.weight`, the divisor of each pair's frequency; for
    "qwen2", no permutation and the q/k/v biases), with a 64-token byte-level vocabulary
    (tokenizer.ggml.pre "gpt-2" for llama, "qwen2" for qwen2): the tokens are not what is tested."""
    if not wanted(name):
        return
    import math
    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    out = os.path.join(root, name)
    with open(os.path.join(out, "config.json")) as handle:
        config = json.load(handle)
    state = load_file(os.path.join(out, "model.safetensors"))
    heads, kv_heads, hidden = config["num_attention_heads"], config["num_key_value_heads"], config["hidden_size"]
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))

    def permute(weights, n_head):
        return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)

    writer = gguf.GGUFWriter(os.path.join(out, "model.gguf"), architecture)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(hidden)
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(theta)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2" if architecture == "qwen2" else "gpt-2")
    writer.add_token_list([chr(33 + index) for index in range(config["vocab_size"])])
    writer.add_token_merges([])
    if rope.get("rope_type") == "llama3":
        dim = hidden // heads
        factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
        original = rope["original_max_position_embeddings"]
        factors = []
        for pair in range(dim // 2):
            frequency = 1.0 / theta ** (2 * pair / dim)
            wavelength = 2 * math.pi / frequency
            if wavelength < original / high:
                factors.append(1.0)
            elif wavelength > original / low:
                factors.append(factor)
            else:
                smooth = (original / wavelength - low) / (high - low)
                factors.append(1 / ((1 - smooth) / factor + smooth))
        writer.add_tensor("rope_freqs.weight", np.array(factors, dtype=np.float32))
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    for layer in range(config["num_hidden_layers"]):
        source, target = f"model.layers.{layer}.", f"blk.{layer}."
        q, k = state[source + "self_attn.q_proj.weight"], state[source + "self_attn.k_proj.weight"]
        if architecture == "llama":
            q, k = permute(q, heads), permute(k, kv_heads)
        for name_out, array in [
            ("attn_norm.weight", state[source + "input_layernorm.weight"]), ("attn_q.weight", q), ("attn_k.weight", k),
            ("attn_v.weight", state[source + "self_attn.v_proj.weight"]), ("attn_output.weight", state[source + "self_attn.o_proj.weight"]),
            ("ffn_norm.weight", state[source + "post_attention_layernorm.weight"]),
            ("ffn_gate.weight", state[source + "mlp.gate_proj.weight"]), ("ffn_up.weight", state[source + "mlp.up_proj.weight"]),
            ("ffn_down.weight", state[source + "mlp.down_proj.weight"]),
        ]:
            writer.add_tensor(target + name_out, np.ascontiguousarray(array, dtype=np.float32))
        for projection in ("q", "k", "v"):
            bias = source + f"self_attn.{projection}_proj.bias"
            if bias in state:
                writer.add_tensor(target + f"attn_{projection}.bias", state[bias].astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out}/model.gguf", file=sys.stderr)


write_gguf("llama3_tiny", "llama")
write_gguf("qwen2_tiny", "qwen2")

for name, model_class, config_class in [("llama_tiny", LlamaForCausalLM, LlamaConfig), ("opt_tiny", OPTForCausalLM, OPTConfig),
                                        ("opt_postln", OPTForCausalLM, OPTConfig), ("llama3_tiny", LlamaForCausalLM, LlamaConfig),
                                        ("qwen2_tiny", Qwen2ForCausalLM, Qwen2Config)]:
    write_continuations(name, model_class, config_class)
