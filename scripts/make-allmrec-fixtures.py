#!/usr/bin/env python3
"""Writes the A-LLMRec stage-1 / stage-2 parity fixtures that Tests/ModelsTests reads, in the folder
allmrec/ (see Fixtures/README.md there; ghdtjr/A-LLMRec `models/a_llmrec_model.py`):

  stage1.safetensors       one stage-1 step (`pre_train_phase1`) on 4 users, CF dim 8: the two two_layer_mlp's
                           (item 8→128→8, text 32→128→32, torch default init), the tiny DistilBERT of
                           distilbert_tiny/ as the text encoder with only its last layer trainable, the
                           mean-pooled text vectors, the four unweighted losses, the total
                           L_rec + L_match + 0.5 L_item + 0.2 L_text and its gradients (MLPs, the text
                           vectors Q±, the last DistilBERT layer).
  stage2_opt.safetensors   one stage-2 step (`pre_train_phase2`) on the decoders of opt_tiny/ and llama_tiny/
  stage2_llama.safetensors (frozen, tied heads, d = 32): the projectors user_proj (8→d, LayerNorm,
                           LeakyReLU 0.01, d→d) and item_proj (128→d, LayerNorm, erf GELU, d→d), two
                           samples laid out [user_proj(user)] ++ E[tokens] with item_proj(latents) written
                           into the slot rows, the token-level mean cross-entropy over both samples of the
                           tokens from label_start on, its gradients (12 projector tensors, and each
                           sample's whole inputs_embeds) and the forward logits.
  original/                the same weights in the original code's torch.save format for the import test:
                           ml-100k_sasrec_10_mlp.pt (= stage1's item MLP, keys fc1.weight ...),
                           ml-100k_sasrec_10_opt_5_log_proj.pt and ..._item_proj.pt (= stage2_opt's
                           user_proj / item_proj, keys 0.weight ... 3.bias), and expected.safetensors with
                           the same tensors named mlp.<key>, log_proj.<key>, item_proj.<key>.

Every expected value is computed in float64 from the float32 (stored) parameters and inputs, in eval
mode (no dropout), and stored as float32. Integer tensors are int64, scalars have shape [1].

After writing, the script reloads every file, recomputes and checks the references are unchanged,
checks the losses against an independent formulation (transformers' own labels loss for stage 2) and
the gradients against central finite differences along a random direction (float64), and prints the
largest error of a float32 run, a guide for the Swift tests' tolerances.

Needs torch, transformers and safetensors; works offline; reads distilbert_tiny/, opt_tiny/ and
llama_tiny/ from the same fixtures folder. Byte-for-byte reproducible for a given torch/transformers.
Regenerate: python3 scripts/make-allmrec-fixtures.py Tests/ModelsTests/Fixtures
"""

import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import DistilBertConfig, DistilBertModel, LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM
from transformers.models.llama import modeling_llama

SEED = 20240613
SIZE_LIMIT = 200 * 1024
GENERATOR = "scripts/make-allmrec-fixtures.py"

# stage 1
USERS = 4
CF_DIM = 8
TOKENS = 10
POSITIVE_LENGTHS = [10, 6, 3, 8]
NEGATIVE_LENGTHS = [4, 10, 7, 2]
ENCODER_PREFIX = "transformer.layer.1."
ALPHA, BETA = 0.5, 0.2

# stage 2
LATENT = 128
SAMPLES = [dict(length=14, slots=4, label_start=10), dict(length=11, slots=3, label_start=8)]
DECODERS = {
    "opt": dict(folder="opt_tiny", config=OPTConfig, build=OPTForCausalLM, seed_offset=2),
    "llama": dict(folder="llama_tiny", config=LlamaConfig, build=LlamaForCausalLM, seed_offset=3),
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


def as_stored(tensors: dict) -> dict:
    return {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous() for k, v in tensors.items()}


def max_error(a: dict, b: dict, prefix: str) -> float:
    keys = [k for k in a if k.startswith(prefix)]
    return max((a[k] - b[k]).abs().max().item() for k in keys)


def directional_check(loss_of, params: list, grads: list, label: str) -> None:
    """Central finite difference of the float64 loss along a random unit direction vs grad·v."""
    generator = torch.Generator().manual_seed(1)
    directions = [torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in params]
    norm = sum((d * d).sum() for d in directions).sqrt()
    directions = [d / norm for d in directions]
    analytic = sum((g.double() * d).sum() for g, d in zip(grads, directions)).item()
    eps = 1e-5
    originals = [p.detach().clone() for p in params]
    values = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, o, d in zip(params, originals, directions):
                p.copy_(o + sign * eps * d)
        values.append(loss_of().item())
    with torch.no_grad():
        for p, o in zip(params, originals):
            p.copy_(o)
    numeric = (values[0] - values[1]) / (2 * eps)
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), f"{label}: fd {numeric} vs grad {analytic}"
    print(f"  {label}: finite difference {numeric:.10f} vs gradient {analytic:.10f}")


def float64_llama() -> None:
    """transformers' Llama rounds to float32 inside a float64 model: LlamaRMSNorm computes in float32,
    LlamaRotaryEmbedding builds inv_freq, the angles and cos/sin in float32. For a float64 input these
    two are replaced by the same formulas in float64; float32 inputs take the original code unchanged.
    (Attention runs through sdpa, which keeps the input dtype; the eager path's softmax would also
    round to float32.)"""
    norm_forward = modeling_llama.LlamaRMSNorm.forward
    rope_forward = modeling_llama.LlamaRotaryEmbedding.forward

    def norm(self, hidden_states):
        if hidden_states.dtype != torch.float64:
            return norm_forward(self, hidden_states)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    @torch.no_grad()
    def rope(self, x, position_ids):
        if x.dtype != torch.float64:
            return rope_forward(self, x, position_ids)
        assert self.rope_type == "default" and self.attention_scaling == 1.0
        config = self.config
        dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        base = config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        freqs = position_ids[..., None].to(torch.float64) * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    modeling_llama.LlamaRMSNorm.forward = norm
    modeling_llama.LlamaRotaryEmbedding.forward = rope


float64_llama()


# ------------------------------------------------------------------------------------------- stage 1

class two_layer_mlp(torch.nn.Module):
    """ghdtjr/A-LLMRec models/a_llmrec_model.py: fc1 = Linear(dims, 128), fc2 = Linear(128, dims)."""

    def __init__(self, dims):
        super().__init__()
        self.fc1 = torch.nn.Linear(dims, 128)
        self.fc2 = torch.nn.Linear(128, dims)

    def forward(self, x):
        x = torch.sigmoid(self.fc1(x))
        return x, self.fc2(x)


def load_encoder(root: str):
    folder = os.path.join(root, "distilbert_tiny")
    config = DistilBertConfig.from_json_file(os.path.join(folder, "config.json"))
    return config, load_file(os.path.join(folder, "model.safetensors"))


def make_stage1(root: str) -> dict:
    """Inputs and MLP parameters (float32; the encoder's are read from distilbert_tiny/)."""
    torch.manual_seed(SEED + 1)
    config, _ = load_encoder(root)
    item, text = two_layer_mlp(CF_DIM), two_layer_mlp(config.dim)  # torch default Linear init

    def ids(lengths):
        out = torch.zeros(USERS, TOKENS, dtype=torch.int64)
        for row, length in enumerate(lengths):
            out[row, :length] = torch.randint(5, config.vocab_size, (length,))
        return out

    tensors = {
        "users": torch.randn(USERS, CF_DIM),
        "positive_items": torch.randn(USERS, CF_DIM),
        "negative_items": torch.randn(USERS, CF_DIM),
        "positive_ids": ids(POSITIVE_LENGTHS),
        "positive_lengths": torch.tensor(POSITIVE_LENGTHS, dtype=torch.int64),
        "negative_ids": ids(NEGATIVE_LENGTHS),
        "negative_lengths": torch.tensor(NEGATIVE_LENGTHS, dtype=torch.int64),
    }
    tensors.update({f"item.{k}": v for k, v in item.state_dict().items()})
    tensors.update({f"text.{k}": v for k, v in text.state_dict().items()})
    return as_stored(tensors)


def stage1_modules(root: str, inputs: dict, dtype):
    config, state = load_encoder(root)
    encoder = DistilBertModel(config)
    encoder.load_state_dict(state)
    encoder.to(dtype).eval()
    for name, param in encoder.named_parameters():
        param.requires_grad_(name.startswith(ENCODER_PREFIX))  # lower layers frozen
    item, text = two_layer_mlp(CF_DIM), two_layer_mlp(config.dim)
    item.load_state_dict({k[5:]: v for k, v in inputs.items() if k.startswith("item.")})
    text.load_state_dict({k[5:]: v for k, v in inputs.items() if k.startswith("text.")})
    return encoder, item.to(dtype), text.to(dtype)


def stage1_losses(encoder, item, text, inputs: dict, dtype, targets=None) -> dict:
    """The stage-1 losses of `pre_train_phase1`; `targets` (pos, neg) replaces Q±.detach() in L_text by constants (for the
    finite-difference check, which would otherwise see the detached target move)."""
    def pooled(ids, lengths):
        mask = (torch.arange(ids.shape[1]) < lengths[:, None]).to(torch.int64)
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.to(dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    users = inputs["users"].to(dtype)
    e_pos_in, e_neg_in = inputs["positive_items"].to(dtype), inputs["negative_items"].to(dtype)
    q_pos_in = pooled(inputs["positive_ids"], inputs["positive_lengths"])
    q_neg_in = pooled(inputs["negative_ids"], inputs["negative_lengths"])
    if q_pos_in.requires_grad:
        q_pos_in.retain_grad()
        q_neg_in.retain_grad()
    e_pos, e_pos_hat = item(e_pos_in)
    e_neg, e_neg_hat = item(e_neg_in)
    q_pos, q_pos_hat = text(q_pos_in)
    q_neg, q_neg_hat = text(q_neg_in)
    s_pos = (users * e_pos_hat).mean(1)
    s_neg = (users * e_neg_hat).mean(1)
    rec = (F.binary_cross_entropy_with_logits(s_pos, torch.ones_like(s_pos))
           + F.binary_cross_entropy_with_logits(s_neg, torch.zeros_like(s_neg)))
    match = F.mse_loss(e_pos, q_pos) + F.mse_loss(e_neg, q_neg)
    item_loss = F.mse_loss(e_pos_hat, e_pos_in) + F.mse_loss(e_neg_hat, e_neg_in)
    t_pos, t_neg = targets if targets is not None else (q_pos_in.detach(), q_neg_in.detach())
    text_loss = F.mse_loss(q_pos_hat, t_pos) + F.mse_loss(q_neg_hat, t_neg)
    total = rec + match + ALPHA * item_loss + BETA * text_loss
    return dict(q_pos=q_pos_in, q_neg=q_neg_in, rec=rec, match=match, item=item_loss, text=text_loss, total=total)


def run_stage1(root: str, inputs: dict, dtype, keep=None) -> dict:
    encoder, item, text = stage1_modules(root, inputs, dtype)
    out = stage1_losses(encoder, item, text, inputs, dtype)
    out["total"].backward()
    tensors = {
        "expected.positive_texts": out["q_pos"],
        "expected.negative_texts": out["q_neg"],
        "expected.loss_rec": out["rec"].reshape(1),
        "expected.loss_match": out["match"].reshape(1),
        "expected.loss_item": out["item"].reshape(1),
        "expected.loss_text": out["text"].reshape(1),
        "expected.loss_total": out["total"].reshape(1),
    }
    tensors.update({f"grad.item.{k}": p.grad for k, p in item.named_parameters()})
    tensors.update({f"grad.text.{k}": p.grad for k, p in text.named_parameters()})
    tensors["grad.positive_texts"] = out["q_pos"].grad
    tensors["grad.negative_texts"] = out["q_neg"].grad
    tensors.update({f"grad.encoder.{k}": p.grad for k, p in encoder.named_parameters() if p.requires_grad})
    if keep is not None:
        keep.update(encoder=encoder, item=item, text=text)
    return as_stored(tensors)


def write_stage1(root: str, folder: str) -> None:
    inputs = make_stage1(root)
    metadata = {
        "generator": GENERATOR, "torch": torch.__version__, "seed": str(SEED + 1),
        "encoder": "distilbert_tiny (model.safetensors), eval mode, only transformer.layer.1 trainable",
        "computed": "float64 from the float32 parameters, eval mode (no dropout); stored as float32",
        "loss": "total = rec + match + 0.5 item + 0.2 text (A-LLMRec stage 1); text = mean pooling over "
                "the real tokens of the last hidden state, no normalisation",
    }
    save_file({**inputs, **run_stage1(root, inputs, torch.float64)}, os.path.join(folder, "stage1.safetensors"),
              metadata)


def check_stage1(root: str, folder: str) -> None:
    saved = load_file(os.path.join(folder, "stage1.safetensors"))
    inputs = {k: v for k, v in saved.items() if not k.startswith(("expected.", "grad."))}
    keep = {}
    again = run_stage1(root, inputs, torch.float64, keep)
    assert set(again) | set(inputs) == set(saved)
    worst = max_error(again, saved, "")
    assert worst == 0, f"stage1: recomputed reference differs by {worst}"

    # the pooled vectors against a manual mean over the real rows of the full hidden state
    encoder = keep["encoder"]
    for side in ("positive", "negative"):
        ids, lengths = inputs[f"{side}_ids"], inputs[f"{side}_lengths"]
        with torch.no_grad():
            for row in range(USERS):
                n = lengths[row].item()
                hidden = encoder(input_ids=ids[row:row + 1, :n]).last_hidden_state[0]
                assert torch.allclose(hidden.mean(0).float(), saved[f"expected.{side}_texts"][row], atol=1e-6)
    total = (saved["expected.loss_rec"] + saved["expected.loss_match"] + ALPHA * saved["expected.loss_item"]
             + BETA * saved["expected.loss_text"])
    assert torch.allclose(total, saved["expected.loss_total"], atol=1e-6)

    with torch.no_grad():
        targets = tuple(stage1_losses(keep["encoder"], keep["item"], keep["text"], inputs, torch.float64)[k]
                        for k in ("q_pos", "q_neg"))

    def loss_of():
        with torch.no_grad():
            return stage1_losses(keep["encoder"], keep["item"], keep["text"], inputs, torch.float64,
                                 targets)["total"]

    params = [p for m in (keep["item"], keep["text"], keep["encoder"]) for p in m.parameters() if p.requires_grad]
    grads = [p.grad for p in params]
    print("stage1.safetensors:")
    directional_check(loss_of, params, grads, "d total along a random direction of MLPs + last encoder layer")

    single = run_stage1(root, inputs, torch.float32)
    print("  float32 vs reference max |err|: "
          f"texts {max_error(single, saved, 'expected.positive_texts'):.2e}/"
          f"{max_error(single, saved, 'expected.negative_texts'):.2e}, "
          f"losses {max_error(single, saved, 'expected.loss'):.2e}, "
          f"grad MLPs {max(max_error(single, saved, 'grad.item.'), max_error(single, saved, 'grad.text.')):.2e}, "
          f"grad texts {max(max_error(single, saved, 'grad.positive'), max_error(single, saved, 'grad.negative')):.2e}, "
          f"grad encoder {max_error(single, saved, 'grad.encoder.'):.2e}"
          f" (largest |grad encoder| {max(saved[k].abs().max().item() for k in saved if k.startswith('grad.encoder.')):.2e})")


# ------------------------------------------------------------------------------------------- stage 2

def projectors(d: int):
    """ghdtjr/A-LLMRec models/llm4rec.py: log_emb_proj / item_emb_proj, xavier_normal_ on [0], [3];
    LayerNorm gamma/beta drawn (1 + 0.1 N, 0.1 N) instead of 1, 0 so they matter."""
    user_proj = torch.nn.Sequential(torch.nn.Linear(CF_DIM, d), torch.nn.LayerNorm(d), torch.nn.LeakyReLU(0.01),
                                    torch.nn.Linear(d, d))
    item_proj = torch.nn.Sequential(torch.nn.Linear(LATENT, d), torch.nn.LayerNorm(d), torch.nn.GELU(),
                                    torch.nn.Linear(d, d))
    for proj in (user_proj, item_proj):
        torch.nn.init.xavier_normal_(proj[0].weight)
        torch.nn.init.xavier_normal_(proj[3].weight)
        with torch.no_grad():
            proj[1].weight.copy_(1 + 0.1 * torch.randn(d))
            proj[1].bias.copy_(0.1 * torch.randn(d))
    return user_proj, item_proj


def load_decoder(root: str, spec: dict, dtype):
    folder = os.path.join(root, spec["folder"])
    config = spec["config"].from_json_file(os.path.join(folder, "config.json"))
    state = load_file(os.path.join(folder, "model.safetensors"))
    config._attn_implementation = "sdpa"  # keeps float64 (the eager softmax rounds to float32)
    model = spec["build"](config).eval()
    embed_name = [key for key in state if key.endswith("embed_tokens.weight")][0]
    model.load_state_dict({**state, "lm_head.weight": state[embed_name]}, strict=False)
    model.tie_weights()
    model.to(dtype).requires_grad_(False)
    return model


def make_stage2(root: str, spec: dict) -> dict:
    torch.manual_seed(SEED + spec["seed_offset"])
    model = load_decoder(root, spec, torch.float32)
    d = model.get_input_embeddings().weight.shape[1]
    vocab = model.get_input_embeddings().weight.shape[0]
    user_proj, item_proj = projectors(d)
    tensors = {f"user_proj.{k}": v for k, v in user_proj.state_dict().items()}
    tensors.update({f"item_proj.{k}": v for k, v in item_proj.state_dict().items()})
    for b, sample in enumerate(SAMPLES):
        positions = 1 + torch.randperm(sample["label_start"] - 1)[:sample["slots"]]
        tensors[f"sample{b}.user"] = torch.randn(CF_DIM)
        tensors[f"sample{b}.tokens"] = torch.randint(3, vocab, (sample["length"],))
        tensors[f"sample{b}.slot_positions"] = positions.sort().values
        tensors[f"sample{b}.slot_latents"] = torch.sigmoid(torch.randn(sample["slots"], LATENT))
        tensors[f"sample{b}.label_start"] = torch.tensor([sample["label_start"]], dtype=torch.int64)
    return as_stored(tensors)


def stage2_modules(root: str, spec: dict, inputs: dict, dtype):
    model = load_decoder(root, spec, dtype)
    d = model.get_input_embeddings().weight.shape[1]
    user_proj, item_proj = projectors(d)
    user_proj.load_state_dict({k[10:]: v for k, v in inputs.items() if k.startswith("user_proj.")})
    item_proj.load_state_dict({k[10:]: v for k, v in inputs.items() if k.startswith("item_proj.")})
    return model, user_proj.to(dtype), item_proj.to(dtype)


def stage2_forward(model, user_proj, item_proj, inputs: dict, dtype) -> dict:
    """Per sample: inputs_embeds [1+L, d], logits [1+L, V]; the token-level mean CE over both samples."""
    embedding = model.get_input_embeddings().weight
    out, total, count = {}, 0, 0
    for b in range(len(SAMPLES)):
        tokens, slots = inputs[f"sample{b}.tokens"], inputs[f"sample{b}.slot_positions"]
        start = inputs[f"sample{b}.label_start"].item()
        rows = embedding[tokens].clone()
        rows[slots] = item_proj(inputs[f"sample{b}.slot_latents"].to(dtype))
        user = user_proj(inputs[f"sample{b}.user"].to(dtype))
        embeds = torch.cat([user[None], rows], 0)
        if embeds.requires_grad:
            embeds.retain_grad()
        mask = torch.ones(1, embeds.shape[0], dtype=torch.int64)
        logits = model(inputs_embeds=embeds[None], attention_mask=mask).logits[0]
        # model position t holds tokens[t-1] (position 0 is the user), so logits[t] predicts tokens[t]
        total = total + F.cross_entropy(logits[start:len(tokens)], tokens[start:], reduction="sum")
        count += len(tokens) - start
        out[f"embeds{b}"], out[f"logits{b}"] = embeds, logits
    out["loss"] = total / count
    return out


def run_stage2(root: str, spec: dict, inputs: dict, dtype, keep=None) -> dict:
    model, user_proj, item_proj = stage2_modules(root, spec, inputs, dtype)
    out = stage2_forward(model, user_proj, item_proj, inputs, dtype)
    out["loss"].backward()
    tensors = {"expected.loss": out["loss"].reshape(1)}
    tensors.update({f"grad.user_proj.{k}": p.grad for k, p in user_proj.named_parameters()})
    tensors.update({f"grad.item_proj.{k}": p.grad for k, p in item_proj.named_parameters()})
    for b in range(len(SAMPLES)):
        tensors[f"grad.sample{b}.inputs_embeds"] = out[f"embeds{b}"].grad
    for b in range(len(SAMPLES)):
        tensors[f"expected.sample{b}.logits"] = out[f"logits{b}"]
    if keep is not None:
        keep.update(model=model, user_proj=user_proj, item_proj=item_proj, out=out)
    return as_stored(tensors)


def write_stage2(root: str, folder: str, name: str, spec: dict) -> None:
    inputs = make_stage2(root, spec)
    metadata = {
        "generator": GENERATOR, "torch": torch.__version__, "seed": str(SEED + spec["seed_offset"]),
        "decoder": f"{spec['folder']} (model.safetensors, lm_head tied to embed_tokens), eval mode, frozen",
        "computed": "float64 from the float32 parameters, eval mode; stored as float32",
        "layout": "inputs_embeds = [user_proj(user)] ++ E[tokens] with rows slot_positions <- "
                  "item_proj(slot_latents); attention mask all ones, batch 1, positions 0..L",
        "loss": "sum over samples and t >= label_start of CE(logits[t], tokens[t]) / number of such t",
    }
    save_file({**inputs, **run_stage2(root, spec, inputs, torch.float64)},
              os.path.join(folder, f"stage2_{name}.safetensors"), metadata)


def check_stage2(root: str, folder: str, name: str, spec: dict) -> None:
    saved = load_file(os.path.join(folder, f"stage2_{name}.safetensors"))
    inputs = {k: v for k, v in saved.items() if not k.startswith(("expected.", "grad."))}
    keep = {}
    again = run_stage2(root, spec, inputs, torch.float64, keep)
    assert set(again) | set(inputs) == set(saved)
    worst = max_error(again, saved, "")
    assert worst == 0, f"stage2_{name}: recomputed reference differs by {worst}"

    # the loss again through transformers' own labels loss (mean per sample, re-weighted by counts)
    model, out = keep["model"], keep["out"]
    total, count = 0.0, 0
    with torch.no_grad():
        for b in range(len(SAMPLES)):
            tokens, start = inputs[f"sample{b}.tokens"], inputs[f"sample{b}.label_start"].item()
            labels = torch.full((1, len(tokens) + 1), -100, dtype=torch.int64)
            labels[0, 1 + start:] = tokens[start:]
            embeds = out[f"embeds{b}"].detach()[None]
            loss = model(inputs_embeds=embeds, attention_mask=torch.ones(1, embeds.shape[1], dtype=torch.int64),
                         labels=labels).loss
            total += loss.item() * (len(tokens) - start)
            count += len(tokens) - start
    assert abs(total / count - saved["expected.loss"].item()) < 1e-6, (total / count, saved["expected.loss"])

    def loss_of():
        with torch.no_grad():
            return stage2_forward(model, keep["user_proj"], keep["item_proj"], inputs, torch.float64)["loss"]

    params = list(keep["user_proj"].parameters()) + list(keep["item_proj"].parameters())
    print(f"stage2_{name}.safetensors:")
    directional_check(loss_of, params, [p.grad for p in params], "d loss along a random direction of the projectors")

    single = run_stage2(root, spec, inputs, torch.float32)
    print("  float32 vs reference max |err|: "
          f"loss {max_error(single, saved, 'expected.loss'):.2e}, "
          f"logits {max_error(single, saved, 'expected.sample'):.2e}, "
          f"grad inputs_embeds {max_error(single, saved, 'grad.sample'):.2e}, "
          f"grad projectors {max(max_error(single, saved, 'grad.user_proj.'), max_error(single, saved, 'grad.item_proj.')):.2e}"
          f" (loss {saved['expected.loss'].item():.4f}, largest |logit| "
          f"{max(saved[k].abs().max().item() for k in saved if k.endswith('.logits')):.2f})")


# ------------------------------------------------------------------------------------------- original

ORIGINAL_FILES = {
    "mlp": "ml-100k_sasrec_10_mlp.pt",
    "log_proj": "ml-100k_sasrec_10_opt_5_log_proj.pt",
    "item_proj": "ml-100k_sasrec_10_opt_5_item_proj.pt",
}


def write_original(folder: str) -> None:
    """The original's checkpoints: torch.save(module.state_dict(), path) (zip format)."""
    out = os.path.join(folder, "original")
    os.makedirs(out, exist_ok=True)
    stage1 = load_file(os.path.join(folder, "stage1.safetensors"))
    stage2 = load_file(os.path.join(folder, "stage2_opt.safetensors"))
    mlp = two_layer_mlp(CF_DIM)
    mlp.load_state_dict({k[5:]: v for k, v in stage1.items() if k.startswith("item.")})
    user_proj, item_proj = projectors(32)
    user_proj.load_state_dict({k[10:]: v for k, v in stage2.items() if k.startswith("user_proj.")})
    item_proj.load_state_dict({k[10:]: v for k, v in stage2.items() if k.startswith("item_proj.")})
    modules = {"mlp": mlp, "log_proj": user_proj, "item_proj": item_proj}
    expected = {}
    for key, module in modules.items():
        state = module.state_dict()
        torch.save(state, os.path.join(out, ORIGINAL_FILES[key]))
        expected.update({f"{key}.{k}": v for k, v in state.items()})
    save_file(as_stored(expected), os.path.join(out, "expected.safetensors"), {
        "generator": GENERATOR, "torch": torch.__version__,
        "source": "mlp = stage1.safetensors item.*, log_proj = stage2_opt.safetensors user_proj.*, "
                  "item_proj = stage2_opt.safetensors item_proj.*"})


def check_original(folder: str) -> None:
    out = os.path.join(folder, "original")
    expected = load_file(os.path.join(out, "expected.safetensors"))
    seen = set()
    for key, file in ORIGINAL_FILES.items():
        state = torch.load(os.path.join(out, file), weights_only=True)
        for k, v in state.items():
            assert torch.equal(v, expected[f"{key}.{k}"]), f"{file}: {k}"
            seen.add(f"{key}.{k}")
    assert seen == set(expected)
    print("original/: " + ", ".join(f"{file} {len(torch.load(os.path.join(out, file), weights_only=True))} keys"
                                    for file in ORIGINAL_FILES.values()))


# ------------------------------------------------------------------------------------------- main

def sizes(folder: str) -> None:
    listing = []
    for directory, _, files in sorted(os.walk(folder)):
        for file in sorted(files):
            path = os.path.join(directory, file)
            size = os.path.getsize(path)
            assert size < SIZE_LIMIT, f"{path}: {size} bytes"
            listing.append(f"{os.path.relpath(path, folder)} {size / 1024:.1f} KiB")
    print("sizes: " + ", ".join(listing))


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures"
    folder = os.path.join(root, "allmrec")
    os.makedirs(folder, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    write_stage1(root, folder)
    for name, spec in DECODERS.items():
        write_stage2(root, folder, name, spec)
    write_original(folder)

    check_stage1(root, folder)
    for name, spec in DECODERS.items():
        check_stage2(root, folder, name, spec)
    check_original(folder)
    sizes(folder)


if __name__ == "__main__":
    main()
