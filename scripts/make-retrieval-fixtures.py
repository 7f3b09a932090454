#!/usr/bin/env python3
"""Writes the retrieval-through-the-LM (LLM-SRec) parity fixture that Tests/ModelsTests reads:
retrieval/llmsrec_llama.safetensors (and the user-vector token's tensors in
retrieval/llmsrec_usertoken_llama.safetensors), one training step of LLM-SRec's loss (Sein-Kim/LLM-SRec
`models/seqllm4rec.py`) on the frozen decoder of llama_tiny/ (d = 32):

  item_proj      Linear(8, 32), LayerNorm, LeakyReLU(0.01), Linear(32, 32): SASRec item rows -> soft tokens
  user_out, item_out   the learnt [UserOut] / [ItemOut] input vectors (32)
  pred_user, pred_item Linear(32, 16), LayerNorm, LeakyReLU, Linear(16, 128) (LLM-SRec's hidden width is
                 2048; 16 keeps the file small, the Swift side reads the width from the tensors)
  pred_user_cf   Linear(8, 16), LayerNorm, GELU, Linear(16, 128): the teacher head (128 wide in LLM-SRec)

Two users and five unique candidates (one shared by both users, one read without its soft token).
Every prompt is laid out as inputs_embeds = E[tokens] with the rows at its soft positions replaced
by item_proj(items[item]) and its last row by user_out or item_out; its vector is the decoder's
last_hidden_state (after the final norm) at the last row, through pred_user or pred_item.

  ce       mean over users of cross-entropy(u . v[candidates], target = candidate 0)
  distil   mse(normalize(u), normalize(pred_user_cf(teacher)))
  uniform  mean(exp(-2 pdist(x)^2)) for x = normalize(u) and x = normalize(teacher vectors)
           (`uniformity(user_outputs) + uniformity(log_emb)` in LLM-SRec's train_mode0)
  loss     ce + distil + uniform(users) + uniform(items)

It is written four times: `expected.*`/`grad.*` with each user's own candidates (LLM-SRec),
`inbatch.expected.*`/`inbatch.grad.*` with every unique candidate of the batch a negative for every
user except the items in that user's `interacted` list, and `cosine.expected.*`/`cosine.grad.*`
with each user's own candidates scored by cosine similarity / 0.07 instead of the dot product, and
`usertoken.expected.*`/`usertoken.grad.*` in-batch and by cosine with a user-vector token in each
user prompt (`train retrieval --user-token`): at `user{b}.user_position`, just before [UserOut],
user_proj (Linear(8, 32), LayerNorm, LeakyReLU, Linear(32, 32)) of the user's teacher input.

Computed in float64 from the float32 (stored) parameters and inputs; stored as float32. The
gradients are checked against central finite differences along a random direction. Reuses the
decoder loading and the safetensors writer of scripts/make-allmrec-fixtures.py.
Needs torch, transformers and safetensors; works offline.
Regenerate: python3 scripts/make-retrieval-fixtures.py Tests/ModelsTests/Fixtures
"""

import importlib.util
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

spec = importlib.util.spec_from_file_location(
    "allmrec_fixtures", os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-allmrec-fixtures.py"))
allmrec = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allmrec)

SEED = 20250713
CF_DIM = 8
ITEMS = 6
HEAD_HIDDEN = 16
VECTOR = 128
DECODER = dict(folder="llama_tiny", config=LlamaConfig, build=LlamaForCausalLM)
# (tokens length, soft positions and their items); the last position is the output token.
USERS = [dict(length=10, soft=[(3, 2), (6, 4)], interacted=[2, 4, 1]), dict(length=8, soft=[(2, 5), (5, 3)], interacted=[5, 3, 6])]
# unique candidates: (item, soft token); a prompt of `length` tokens with the soft token at position 2
CANDIDATES = [dict(item=1, soft=True, length=5), dict(item=2, soft=True, length=6), dict(item=3, soft=False, length=4),
              dict(item=6, soft=True, length=5), dict(item=5, soft=True, length=5)]
LISTS = [[0, 1, 2], [3, 0, 4]]  # each user's candidates by index into CANDIDATES, target first


def head(inputs: int, hidden: int, activation) -> torch.nn.Sequential:
    module = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.LayerNorm(hidden), activation,
                                 torch.nn.Linear(hidden, VECTOR))
    with torch.no_grad():
        module[1].weight.copy_(1 + 0.1 * torch.randn(hidden))
        module[1].bias.copy_(0.1 * torch.randn(hidden))
    return module


def projector() -> torch.nn.Sequential:
    module = torch.nn.Sequential(torch.nn.Linear(CF_DIM, 32), torch.nn.LayerNorm(32), torch.nn.LeakyReLU(0.01),
                                 torch.nn.Linear(32, 32))
    with torch.no_grad():
        module[1].weight.copy_(1 + 0.1 * torch.randn(32))
        module[1].bias.copy_(0.1 * torch.randn(32))
    return module


def modules():
    return dict(item_proj=projector(), pred_user=head(32, HEAD_HIDDEN, torch.nn.LeakyReLU(0.01)),
                pred_item=head(32, HEAD_HIDDEN, torch.nn.LeakyReLU(0.01)),
                pred_user_cf=head(CF_DIM, HEAD_HIDDEN, torch.nn.GELU()))


def make_inputs(root: str) -> dict:
    torch.manual_seed(SEED)
    model = allmrec.load_decoder(root, DECODER, torch.float32)
    vocab = model.get_input_embeddings().weight.shape[0]
    tensors = {}
    for name, module in modules().items():
        tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    tensors["user_out"] = 0.5 * torch.randn(32)
    tensors["item_out"] = 0.5 * torch.randn(32)
    tensors["items"] = torch.randn(ITEMS + 1, CF_DIM)
    for b, user in enumerate(USERS):
        tensors[f"user{b}.tokens"] = torch.randint(3, vocab, (user["length"],))
        tensors[f"user{b}.soft_positions"] = torch.tensor([p for p, _ in user["soft"]], dtype=torch.int64)
        tensors[f"user{b}.soft_items"] = torch.tensor([i for _, i in user["soft"]], dtype=torch.int64)
        tensors[f"user{b}.teacher"] = torch.randn(CF_DIM)
        tensors[f"user{b}.interacted"] = torch.tensor(user["interacted"], dtype=torch.int64)
        tensors[f"user{b}.candidates"] = torch.tensor(LISTS[b], dtype=torch.int64)
    for c, candidate in enumerate(CANDIDATES):
        tensors[f"candidate{c}.tokens"] = torch.randint(3, vocab, (candidate["length"],))
        tensors[f"candidate{c}.item"] = torch.tensor([candidate["item"]], dtype=torch.int64)
        tensors[f"candidate{c}.soft_positions"] = torch.tensor([2] if candidate["soft"] else [], dtype=torch.int64)
    # The user-vector token (drawn last, so the tensors above are those of the layout without it):
    # just before [UserOut], the teacher's input (SASRec's user vector) through user_proj.
    tensors.update({f"user_proj.{k}": v for k, v in projector().state_dict().items()})
    for b, user in enumerate(USERS):
        tensors[f"user{b}.user_position"] = torch.tensor([user["length"] - 2], dtype=torch.int64)
    return allmrec.as_stored(tensors)


def build(root: str, inputs: dict, dtype):
    model = allmrec.load_decoder(root, DECODER, dtype)
    parts = modules()
    for name, module in parts.items():
        module.load_state_dict({k[len(name) + 1:]: v for k, v in inputs.items() if k.startswith(name + ".")})
        module.to(dtype)
    parts["user_proj"] = projector()
    parts["user_proj"].load_state_dict({k[len("user_proj."):]: v for k, v in inputs.items() if k.startswith("user_proj.")})
    parts["user_proj"].to(dtype)
    parts["user_out"] = inputs["user_out"].to(dtype).clone().requires_grad_(True)
    parts["item_out"] = inputs["item_out"].to(dtype).clone().requires_grad_(True)
    return model, parts


TEMPERATURE = 0.07


def losses(model, parts: dict, inputs: dict, dtype, in_batch: bool, cosine: bool = False, user_token: bool = False) -> dict:
    embedding = model.get_input_embeddings().weight
    items = inputs["items"].to(dtype)

    def state(tokens, positions, soft_items, out, user=None):
        rows = embedding[tokens].clone()
        if len(positions):
            rows[positions] = parts["item_proj"](items[soft_items])
        if user is not None:
            rows[user[0]] = parts["user_proj"](user[1])
        rows[-1] = out
        hidden = model.model(inputs_embeds=rows[None], attention_mask=torch.ones(1, len(tokens), dtype=torch.int64))
        return hidden.last_hidden_state[0, -1]

    def user_slot(b):
        return (int(inputs[f"user{b}.user_position"].item()), inputs[f"user{b}.teacher"].to(dtype)) if user_token else None

    users = torch.stack([state(inputs[f"user{b}.tokens"], inputs[f"user{b}.soft_positions"],
                               inputs[f"user{b}.soft_items"], parts["user_out"], user_slot(b)) for b in range(len(USERS))])
    states = []
    for c in range(len(CANDIDATES)):
        positions = inputs[f"candidate{c}.soft_positions"]
        states.append(state(inputs[f"candidate{c}.tokens"], positions,
                            inputs[f"candidate{c}.item"].repeat(len(positions)), parts["item_out"]))
    u = parts["pred_user"](users)
    v = parts["pred_item"](torch.stack(states))
    t = parts["pred_user_cf"](torch.stack([inputs[f"user{b}.teacher"].to(dtype) for b in range(len(USERS))]))
    ce = 0
    for b in range(len(USERS)):
        own = inputs[f"user{b}.candidates"].tolist()
        if in_batch:
            interacted = set(inputs[f"user{b}.interacted"].tolist())
            own = [own[0]] + [c for c in range(len(CANDIDATES))
                              if c != own[0] and inputs[f"candidate{c}.item"].item() not in interacted]
        if cosine:
            logits = (F.normalize(u[b], dim=-1)[None] * F.normalize(v[own], dim=-1)).sum(-1) / TEMPERATURE
        else:
            logits = (u[b][None] * v[own]).sum(-1)
        ce = ce + F.cross_entropy(logits[None], torch.zeros(1, dtype=torch.int64)) / len(USERS)
    nu, nt = F.normalize(u, dim=-1), F.normalize(t, dim=-1)
    distil = F.mse_loss(nu, nt)

    def uniform(x):
        return torch.pdist(x, p=2).pow(2).mul(-2).exp().mean()

    uniformity = uniform(nu) + uniform(nt)
    return dict(loss=ce + distil + uniformity, ce=ce, distil=distil, uniform=uniformity)


def parameters(parts: dict, user_token: bool = False) -> list:
    named = []
    for name in ["item_proj", "pred_user", "pred_item", "pred_user_cf"] + (["user_proj"] if user_token else []):
        named += [(f"{name}.{k}", p) for k, p in parts[name].named_parameters()]
    return named + [("user_out", parts["user_out"]), ("item_out", parts["item_out"])]


def reference(root: str, inputs: dict, in_batch: bool, check: bool, cosine: bool = False, user_token: bool = False) -> dict:
    model, parts = build(root, inputs, torch.float64)
    out = losses(model, parts, inputs, torch.float64, in_batch, cosine, user_token)
    out["loss"].backward()
    prefix = "usertoken." if user_token else "inbatch." if in_batch else "cosine." if cosine else ""
    tensors = {f"{prefix}expected.{k}": v.detach().reshape(1) for k, v in out.items()}
    named = parameters(parts, user_token)
    tensors.update({f"{prefix}grad.{name}": p.grad for name, p in named})
    if check:
        def loss_of():
            with torch.no_grad():
                return losses(model, parts, inputs, torch.float64, in_batch, cosine, user_token)["loss"]
        allmrec.directional_check(loss_of, [p for _, p in named], [p.grad for _, p in named],
                                  f"llmsrec {prefix or 'own candidates'}")
    return allmrec.as_stored(tensors)


USER_TOKEN_FILE = "llmsrec_usertoken_llama.safetensors"


def is_user_token(name: str) -> bool:
    return name.startswith(("user_proj.", "usertoken.")) or name.endswith(".user_position")


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "Tests/ModelsTests/Fixtures"
    folder = os.path.join(root, "retrieval")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "llmsrec_llama.safetensors")
    inputs = make_inputs(root)
    tensors = {**inputs, **reference(root, inputs, False, True), **reference(root, inputs, True, True),
               **reference(root, inputs, False, True, cosine=True), **reference(root, inputs, True, True, cosine=True, user_token=True)}
    metadata = {"generator": "scripts/make-retrieval-fixtures.py", "torch": torch.__version__, "seed": str(SEED),
                "decoder": "llama_tiny (model.safetensors), eval mode, frozen",
                "computed": "float64 from the float32 parameters; stored as float32"}
    # Two files under the size limit: the user-vector token's tensors beside the rest.
    user_token_path = os.path.join(folder, USER_TOKEN_FILE)
    allmrec.save_file({k: v for k, v in tensors.items() if not is_user_token(k)}, path, metadata)
    allmrec.save_file({k: v for k, v in tensors.items() if is_user_token(k)}, user_token_path,
                      {**metadata, "inputs": "llmsrec_llama.safetensors"})
    saved = {**load_file(path), **load_file(user_token_path)}
    again = {**reference(root, inputs, False, False), **reference(root, inputs, True, False),
             **reference(root, inputs, False, False, cosine=True), **reference(root, inputs, True, False, cosine=True, user_token=True)}
    worst = max((again[k] - saved[k]).abs().max().item() for k in again)
    assert worst == 0, f"recomputed reference differs by {worst}"
    for written in [path, user_token_path]:
        size = os.path.getsize(written)
        assert size < allmrec.SIZE_LIMIT, f"{written} is {size} bytes"
    print(f"wrote {path} and {USER_TOKEN_FILE}; loss {saved['expected.loss'].item():.6f}, "
          f"in-batch {saved['inbatch.expected.loss'].item():.6f}, user token {saved['usertoken.expected.loss'].item():.6f}")


if __name__ == "__main__":
    main()
