#!/usr/bin/env python3
"""Training through the frozen LM: llmrec against PyTorch on the same steps, weights and threads.

For each recipe, llmrec trains a few steps on a copy of the bundle with `--record FILE`, which writes
the starting weights, every step's samples (token ids, soft-token positions and what goes there)
and the first step's loss and gradients. Then this script replays exactly those steps in PyTorch in
its own process (the LM loaded with transformers from the same GGUF, dequantised to float32, as
llmrec's training does) and prints samples/s, tokens/s and peak RSS of both with the ratios. After
the timed steps PyTorch computes the first step again in float64: llmrec's recorded gradients must
be within a stated tolerance of it (FLOAT32_TOLERANCE; in bfloat16, PyTorch's own bfloat16 error) (PyTorch's own float32 gradients are shown beside them), so the
faster side is known to compute the same thing.

Recipes:
  stage2     A-LLMRec stage 2 (ghdtjr/A-LLMRec `pre_train_phase2`): batch 2, the original prompt; the
             user vector and item latents through F_U / F_I into the prompt, next-token cross-entropy
             on the answer title. PyTorch runs the batch padded in one forward, as the original;
             `--torch-logits answer` (default) computes the LM head only on the answer rows, as llmrec
             does, `all` on every row, as the original's `labels=` call does.
  retrieval  retrieval through the LM (LLM-SRec, Sein-Kim/LLM-SRec `train_mode0`) with the main job's
             settings: batch 8, in-batch negatives plus 3 drawn, cosine / 0.07, CF dropout 0.1. PyTorch
             runs the user prompts and the candidates' prompts each as one padded batch through the
             base model (no LM head).

Both sides time every step (building inputs, forward, backward, Adam) from the first, and report
peak RSS of the whole process (loading included). Threads: OpenBLAS for llmrec, torch's intra-op
pool for PyTorch, both `--threads`.

Needs a bundle with SASRec and A-LLMRec's stage 1 (the main job's, `$LLMREC_HOME/models/ml-100k`,
made by scripts/run-default.sh) and the fetched SmolLM2 GGUF; torch, transformers and gguf.

  python3 scripts/bench-training.py [--recipe stage2|retrieval|both] [--threads 2] [--steps 4]
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOME = os.environ.get("LLMREC_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmrec")
# llmrec's first-step gradients against PyTorch's in float64 on the same step: the largest relative
# L2 error of a tensor. In float32 it must be within 1e-4, or within 4x PyTorch's own float32 error
# where float32 itself is no closer (a bias gradient summed over cancelling rows). With bfloat16
# products (8 significant bits per input, float32 sums) every tensor's error must be at most
# PyTorch's own with bfloat16 autocast on the same step (the same arithmetic in its kernels).
FLOAT32_TOLERANCE = 1e-4
RECIPES = {
    "stage2": dict(batch=2, command=["train", "project"], flags=[]),
    "retrieval": dict(batch=8, command=["train", "retrieval"], flags=["--negatives", "in-batch", "--lr", "1e-3"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=["stage2", "retrieval", "both"], default="both")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="optimiser steps per side")
    parser.add_argument("--bundle", default=os.path.join(HOME, "models", "ml-100k"))
    parser.add_argument("--data", default=os.path.join(HOME, "data", "ml-100k"))
    parser.add_argument("--lm", default=None, help="GGUF (default: the fetched SmolLM2-135M-Instruct Q4_1)")
    parser.add_argument("--llmrec", default=None, help="llmrec binary (default: the release build)")
    parser.add_argument("--torch-logits", choices=["answer", "all"], default="answer")
    parser.add_argument("--precision", choices=["bf16", "f32", "auto"], default=None,
                        help="llmrec's --precision (default: llmrec's, f32)")
    parser.add_argument("--replay", metavar="RECORD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replay:
        replay(args)
        return
    lm = args.lm or os.path.join(fetched_assets(), "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")
    llmrec = args.llmrec or release_binary()
    for path, what in [(args.bundle, "bundle (run scripts/run-default.sh first, or pass --bundle)"),
                       (args.data, "prepared dataset (--data)"), (lm, "LM (--lm)")]:
        if not os.path.exists(path):
            sys.exit(f"bench-training: no {what}: {path}")
    recipes = ["stage2", "retrieval"] if args.recipe == "both" else [args.recipe]
    rows = []
    for recipe in recipes:
        rows.append(run_recipe(recipe, args, lm, llmrec))
    print()
    print(f"| recipe | side | samples/s | tokens/s | peak RSS (MiB) | first-step loss |")
    print(f"|---|---|---:|---:|---:|---:|")
    for recipe, ours, theirs in rows:
        for side, result in [("llmrec", ours), ("PyTorch", theirs)]:
            print(f"| {recipe} | {side} | {result['samples_per_second']:.3f} | {result['tokens_per_second']:.1f} | "
                  f"{result['peak_rss'] / 2**20:.0f} | {result['loss']:.6f} |")
    print()
    passed = True
    for recipe, ours, theirs in rows:
        errors = theirs["gradient_errors"]
        if ours["kernels"]["precision"] == "bf16":
            reference = theirs["torch_bf16_gradient_errors"]
            match = all(errors[name] <= reference[name] for name in errors)
            verdict = "every tensor within PyTorch's bfloat16 autocast error"
        else:
            tolerance = max(FLOAT32_TOLERANCE, 4 * theirs["torch_worst_gradient_error"])
            match = theirs["worst_gradient_error"] <= tolerance
            verdict = f"at {tolerance:.2g}"
        passed = passed and match
        print(f"{recipe}: llmrec ({ours['kernels']['precision']}, OpenBLAS {ours['kernels']['blas']}) / PyTorch "
              f"{theirs['torch_version']} (float32) samples/s {ours['samples_per_second'] / theirs['samples_per_second']:.2f}x, "
              f"peak RSS {ours['peak_rss'] / theirs['peak_rss']:.2f}x; gradients against PyTorch float64: llmrec worst "
              f"{theirs['worst_gradient_error']:.2e} ({theirs['worst_gradient']}), PyTorch float32 worst "
              f"{theirs['torch_worst_gradient_error']:.2e}, bfloat16 autocast worst {theirs['torch_bf16_worst_gradient_error']:.2e}; "
              f"{'PASS' if match else 'FAIL'} {verdict}")
    if not passed:
        sys.exit(1)


def fetched_assets() -> str:
    return subprocess.run([os.path.join(ROOT, "scripts", "fetch-assets.sh"), "smollm2"], check=True,
                          capture_output=True, text=True).stdout.strip()


def release_binary() -> str:
    subprocess.run(["swift", "build", "-c", "release", "--product", "llmrec"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    return os.path.join(path, "llmrec")


def run_recipe(recipe: str, args, lm: str, llmrec: str):
    spec = RECIPES[recipe]
    with tempfile.TemporaryDirectory(prefix="bench-training-") as work:
        bundle = os.path.join(work, "bundle")
        # The bundle's models, without training states, caches or earlier stage-2 / retrieval weights.
        shutil.copytree(args.bundle, bundle, ignore=shutil.ignore_patterns(
            "*.training.safetensors", "retrieval*.safetensors", "stage2*.safetensors", "*.tmp*"))
        record = os.path.join(work, "record.safetensors")
        command = [llmrec, *spec["command"], "--data", args.data, "--bundle", bundle, "--lm", lm,
                   "--max-users", str(args.steps * spec["batch"]), "--epochs", "1", "--batch-size", str(spec["batch"]),
                   "--restart", "--quiet", "--checkpoint-every", "1000000", "--blas-threads", str(args.threads),
                   "--record", record, *spec["flags"], *(["--precision", args.precision] if args.precision else [])]
        print(f"## {recipe}: llmrec, {args.steps} steps of {spec['batch']} at {args.threads} thread(s)", file=sys.stderr, flush=True)
        summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        tokens = summary["tokensPerSample"] * summary["samplesThisRun"]
        seconds = summary["samplesThisRun"] / summary["samplesPerSecond"]
        first_loss = recorded_loss(record)
        ours = dict(samples_per_second=summary["samplesPerSecond"], tokens_per_second=tokens / seconds,
                    peak_rss=summary["peakRSSBytes"], loss=first_loss, kernels=summary["kernels"])
        print(f"## {recipe}: PyTorch replays the same steps", file=sys.stderr, flush=True)
        environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        replayed = subprocess.run([sys.executable, os.path.abspath(__file__), "--replay", record, "--lm", lm,
                                   "--threads", str(args.threads), "--torch-logits", args.torch_logits],
                                  capture_output=True, text=True, env=environment)
        if replayed.returncode != 0:
            sys.exit(f"bench-training: the PyTorch replay failed:\n{replayed.stderr}")
        theirs = json.loads(replayed.stdout.strip().splitlines()[-1])
        for name, error in sorted(theirs["gradient_errors"].items()):
            print(f"   grad {name}: relative error against float64, llmrec {error:.2e}, "
                  f"PyTorch float32 {theirs['torch_gradient_errors'][name]:.2e}, "
                  f"PyTorch bfloat16 autocast {theirs['torch_bf16_gradient_errors'][name]:.2e}", file=sys.stderr)
        return recipe, ours, theirs


def recorded_loss(path: str) -> float:
    from safetensors import safe_open
    with safe_open(path, "pt") as file:
        return file.get_tensor("expected.loss").item()


# ---------------------------------------------------------------- the PyTorch side (its own process)

def replay(args) -> None:
    import torch
    from safetensors import safe_open

    torch.set_num_threads(args.threads)
    with safe_open(args.replay, "pt") as file:
        metadata = file.metadata()
        record = {name: file.get_tensor(name) for name in file.keys()}
    model = load_lm(args.lm)
    side = stage2_side if metadata["recipe"] == "stage2" else retrieval_side
    parameters, step_loss = side(model, record, metadata, args)
    optimizer = torch.optim.Adam([p for _, p in parameters], lr=float(metadata["lr"]),
                                 betas=(float(metadata["beta1"]), float(metadata["beta2"])))
    steps = int(metadata["steps"])
    samples = tokens = 0
    first_loss, first_gradients = None, {}
    started = time.perf_counter()
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss, count, length = step_loss(step)
        loss.backward()
        if step == 0:
            first_loss = loss.item()
            first_gradients = {name: parameter.grad.clone() for name, parameter in parameters}
        optimizer.step()
        samples += count
        tokens += length
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # The first step again with PyTorch's own bfloat16 products (autocast: bfloat16 inputs, float32
    # sums), the reference for llmrec's bfloat16 error.
    parameters16, step_loss16 = side(model, record, metadata, args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss16 = step_loss16(0)[0]
    loss16.float().backward()
    bf16_gradients = {name: parameter.grad.clone() for name, parameter in parameters16}
    # The first step again in float64 (after the timing, so that it adds nothing to the peak above):
    # the reference both float32 sides are measured against.
    # The answer rows' logits only: transformers' `labels=` loss casts the logits to float32.
    record64 = {name: tensor.double() for name, tensor in record.items()}
    exact = argparse.Namespace(**{**vars(args), "torch_logits": "answer"})
    parameters64, step_loss64 = side(exact_rotary(model.double()), record64, metadata, exact)
    step_loss64(0)[0].backward()

    def relative(gradient, name):
        exact = dict(parameters64)[name].grad
        return ((gradient.double() - exact).norm() / exact.norm().clamp_min(1e-300)).item()

    ours = {name: relative(record["grad." + name], name) for name, _ in parameters}
    theirs = {name: relative(first_gradients[name], name) for name, _ in parameters}
    theirs16 = {name: relative(bf16_gradients[name], name) for name, _ in parameters}
    worst = max(ours, key=ours.get)
    print(json.dumps(dict(samples_per_second=samples / seconds, tokens_per_second=tokens / seconds, peak_rss=peak,
                          loss=first_loss, recorded_loss=record["expected.loss"].item(), gradient_errors=ours,
                          torch_gradient_errors=theirs, worst_gradient=worst, worst_gradient_error=ours[worst],
                          torch_worst_gradient_error=max(theirs.values()), torch_bf16_gradient_errors=theirs16,
                          torch_bf16_worst_gradient_error=max(theirs16.values()), torch_version=torch.__version__)))


def load_lm(path: str):
    import logging

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
    return model.eval().requires_grad_(False)


def exact_rotary(model):
    """The model with RoPE angles computed in float64: transformers computes them in float32 even
    for a float64 model (position · inverse frequency, an error growing with the position)."""
    import torch

    rotary = model.model.rotary_emb
    parameters = model.config.rope_parameters
    if parameters.get("rope_type", "default") != "default":
        return model
    head = getattr(model.config, "head_dim", None) or model.config.hidden_size // model.config.num_attention_heads
    inverse = 1.0 / parameters["rope_theta"] ** (torch.arange(0, head, 2, dtype=torch.float64) / head)

    def forward(x, position_ids):
        angles = position_ids[..., None].double() * inverse
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    rotary.forward = forward
    return model


def sequential(record: dict, prefix: str, activation):
    """Linear, LayerNorm, activation, Linear with the recorded weights (the projectors and heads)."""
    import torch

    first, last = record[prefix + "0.weight"], record[prefix + "3.weight"]
    module = torch.nn.Sequential(torch.nn.Linear(first.shape[1], first.shape[0]), torch.nn.LayerNorm(first.shape[0]), activation,
                                 torch.nn.Linear(last.shape[1], last.shape[0]))
    module.load_state_dict({k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix) and k[len(prefix)] in "013"})
    return module.to(first.dtype)


def named(prefix: str, module) -> list:
    return [(prefix + name, parameter) for name, parameter in module.named_parameters()]


def count(record: dict, pattern: str) -> int:
    index = 0
    while pattern.format(index) in record:
        index += 1
    return index


def padded(rows: list):
    """[batch, longest, width] with zero rows after each sequence, and the attention mask."""
    import torch

    longest = max(len(r) for r in rows)
    embeds = torch.zeros(len(rows), longest, rows[0].shape[1], dtype=rows[0].dtype)
    mask = torch.zeros(len(rows), longest, dtype=torch.int64)
    for index, r in enumerate(rows):
        embeds[index, :len(r)] = r
        mask[index, :len(r)] = 1
    return embeds, mask


def stage2_side(model, record: dict, metadata: dict, args):
    import torch
    import torch.nn.functional as F

    user_proj = sequential(record, "user_proj.", torch.nn.LeakyReLU(0.01))
    item_proj = sequential(record, "item_proj.", torch.nn.GELU())
    user_scale = record.get("user_proj.scale", torch.ones(1)).item()
    item_scale = record.get("item_proj.scale", torch.ones(1)).item()
    embedding = model.get_input_embeddings().weight

    def step_loss(step: int):
        rows, targets = [], []
        for b in range(count(record, f"step{step}.sample{{}}.tokens")):
            p = f"step{step}.sample{b}."
            tokens = record[p + "tokens"].long()
            start = int(record[p + "answer_start"].item())
            x = embedding[tokens].clone()
            slots = record[p + "slot_positions"].long()
            if len(slots):
                x[slots] = (item_proj(record[p + "slot_latents"]) * item_scale).to(x.dtype)
            if p + "user_position" in record:
                x[int(record[p + "user_position"].item())] = (user_proj(record[p + "user"]) * user_scale).to(x.dtype)
            rows.append(x)
            targets.append((tokens, start))
        embeds, mask = padded(rows)
        if args.torch_logits == "all":
            labels = torch.full(mask.shape, -100, dtype=torch.int64)
            for b, (tokens, start) in enumerate(targets):
                labels[b, start:len(tokens)] = tokens[start:]
            loss = model(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
        else:
            hidden = model.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            picked = torch.cat([hidden[b, start - 1:len(tokens) - 1] for b, (tokens, start) in enumerate(targets)])
            answers = torch.cat([tokens[start:] for tokens, start in targets])
            loss = F.cross_entropy(model.lm_head(picked), answers)
        return loss, len(rows), sum(len(t) for t, _ in targets)

    return named("user_proj.", user_proj) + named("item_proj.", item_proj), step_loss


def retrieval_side(model, record: dict, metadata: dict, args):
    import torch
    import torch.nn.functional as F

    item_proj = sequential(record, "item_proj.", torch.nn.LeakyReLU(0.01))
    pred_user = sequential(record, "pred_user.", torch.nn.LeakyReLU(0.01))
    pred_item = sequential(record, "pred_item.", torch.nn.LeakyReLU(0.01))
    pred_user_cf = sequential(record, "pred_user_cf.", torch.nn.GELU())
    # With a user-vector token (`train retrieval --user-token`): SASRec's user vector through user_proj.
    user_proj = sequential(record, "user_proj.", torch.nn.LeakyReLU(0.01)) if "user_proj.0.weight" in record else None
    user_out = record["user_out"].clone().requires_grad_(True)
    item_out = record["item_out"].clone().requires_grad_(True)
    items = record["items"]
    embedding = model.get_input_embeddings().weight
    in_batch = metadata["in_batch"] == "1"
    temperature = float(metadata["temperature"]) if metadata["temperature"] else None
    distillation_weight, uniformity_weight = float(metadata["distillation_weight"]), float(metadata["uniformity_weight"])

    def final_states(prompts: list):
        """The LM's final state at each prompt's last row ([count, width]); one padded batch."""
        rows = []
        for tokens, positions, soft_items, out, user in prompts:
            x = embedding[tokens].clone()
            if len(positions):
                x[positions] = item_proj(items[soft_items]).to(x.dtype)
            if user is not None:
                x[user[0]] = user_proj(user[1]).to(x.dtype)
            x[-1] = out.to(x.dtype)
            rows.append(x)
        embeds, mask = padded(rows)
        hidden = model.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return torch.stack([hidden[b, len(r) - 1] for b, r in enumerate(rows)])

    def uniform(x):
        return torch.pdist(x.float(), p=2).pow(2).mul(-2).exp().mean()

    def step_loss(step: int):
        users = count(record, f"step{step}.user{{}}.tokens")
        candidates = count(record, f"step{step}.candidate{{}}.tokens")
        prompts = []
        for b in range(users):
            p = f"step{step}.user{b}."
            user = (int(record[p + "user_position"].item()), record[p + "user_vector"]) if p + "user_position" in record else None
            prompts.append((record[p + "tokens"].long(), record[p + "soft_positions"].long(), record[p + "soft_items"].long(), user_out, user))
        for c in range(candidates):
            p = f"step{step}.candidate{c}."
            positions = record[p + "soft_positions"].long()
            prompts.append((record[p + "tokens"].long(), positions, record[p + "item"].long().repeat(len(positions)), item_out, None))
        u = pred_user(final_states(prompts[:users]))
        v = pred_item(final_states(prompts[users:]))
        t = pred_user_cf(torch.stack([record[f"step{step}.user{b}.teacher"] for b in range(users)]))
        ce = 0
        for b in range(users):
            own = record[f"step{step}.user{b}.candidates"].long().tolist()
            if in_batch:
                interacted = set(record[f"step{step}.user{b}.interacted"].long().tolist())
                own = [own[0]] + [c for c in range(candidates)
                                  if c != own[0] and int(record[f"step{step}.candidate{c}.item"].item()) not in interacted]
            if temperature is None:
                logits = (u[b][None] * v[own]).sum(-1)
            else:
                logits = (F.normalize(u[b], dim=-1)[None] * F.normalize(v[own], dim=-1)).sum(-1) / temperature
            ce = ce + F.cross_entropy(logits[None], torch.zeros(1, dtype=torch.int64)) / users
        nu, nt = F.normalize(u, dim=-1), F.normalize(t, dim=-1)
        # Users whose prompts carry words leave out the distillation term but still count in its mean.
        distils = torch.tensor([float(record[f"step{step}.user{b}.distils"].item()) for b in range(users)], dtype=nu.dtype)
        distillation = ((nu - nt).pow(2) * distils[:, None]).mean()
        loss = ce + distillation_weight * distillation + uniformity_weight * (uniform(nu) + uniform(nt))
        return loss, users, sum(len(prompt[0]) for prompt in prompts)

    parameters = (named("item_proj.", item_proj) + [("user_out", user_out), ("item_out", item_out)] + named("pred_user.", pred_user)
                  + named("pred_item.", pred_item) + named("pred_user_cf.", pred_user_cf)
                  + (named("user_proj.", user_proj) if user_proj is not None else []))
    return parameters, step_loss


if __name__ == "__main__":
    main()
