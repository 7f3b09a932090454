#!/usr/bin/env python3
"""Decoding speed of SmolLM2-135M-Instruct (the Q4_1 GGUF): `llmrec lm generate` against
llama.cpp (llama-cpp-python, quantised dot products like ours) and transformers (which dequantises the
GGUF to float32), greedy, same prompt and token count, same thread count, each in its own process.
Prints time to first token, decode tokens/s and peak RSS side by side.

usage: python3 scripts/bench-lm.py [--llmrec BIN] [--tokens 64] [--threads 1]
Needs torch, transformers, accelerate and gguf for the transformers side and llama-cpp-python for
llama.cpp (an sdist on PyPI: `pip install scikit-build-core cmake ninja` then
`pip install --no-build-isolation llama-cpp-python` builds it); a missing peer is reported and skipped.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HOME = os.environ.get("LLMREC_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmrec")
GGUF = os.path.join(HOME, "assets", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")
PROMPT = "The capital of France is"


def transformers_side(tokens, threads):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    directory, name = os.path.split(GGUF)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32).eval()
    ids = torch.tensor([tokenizer(PROMPT, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        started = time.perf_counter()
        first = model(ids, use_cache=True)
        first_token = time.perf_counter() - started
        output = model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        total = time.perf_counter() - started
    generated = output.shape[1] - ids.shape[1]
    decode = total - first_token
    return {"tokens": generated, "secondsToFirstToken": first_token, "tokensPerSecond": generated / decode,
            "peakRSSBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "promptLogits": int(first.logits.shape[-1])}


def llama_cpp_side(tokens, threads):
    from llama_cpp import Llama

    model = Llama(model_path=GGUF, n_threads=threads, n_threads_batch=threads, n_ctx=256, verbose=False)
    started = time.perf_counter()
    arrivals = []
    for _ in model.create_completion(PROMPT, max_tokens=tokens, temperature=0, top_k=1, repeat_penalty=1.0, stream=True):
        arrivals.append(time.perf_counter() - started)
    decode = arrivals[-1] - arrivals[0]
    return {"tokens": len(arrivals), "secondsToFirstToken": arrivals[0],
            "tokensPerSecond": (len(arrivals) - 1) / max(decode, 1e-9),
            "peakRSSBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def ours(binary, tokens, threads):
    started = time.perf_counter()
    process = subprocess.run(
        [binary, "lm", "generate", "--model", GGUF, "--prompt", PROMPT, "--greedy", "--repetition-penalty", "1",
         "--max-tokens", str(tokens), "--threads", str(threads)], capture_output=True, text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": str(threads)})
    if process.returncode != 0:
        raise SystemExit(f"llmrec lm generate failed: {process.stderr}")
    summary = json.loads(process.stderr.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    decode = summary["seconds"] - summary["secondsToFirstToken"]
    return {"tokens": summary["generatedTokens"], "secondsToFirstToken": summary["secondsToFirstToken"],
            "tokensPerSecond": (summary["generatedTokens"] - 1) / max(decode, 1e-9), "peakRSSBytes": usage.ru_maxrss * 1024,
            "wallSeconds": time.perf_counter() - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llmrec", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "llmrec"))
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", choices=["transformers", "llama.cpp"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        side = transformers_side if arguments.worker == "transformers" else llama_cpp_side
        print(json.dumps(side(arguments.tokens, arguments.threads)))
        return
    mine = ours(arguments.llmrec, arguments.tokens, arguments.threads)
    peers = {}
    for name in ["llama.cpp", "transformers"]:
        worker = subprocess.run(
            [sys.executable, __file__, "--worker", name, "--tokens", str(arguments.tokens), "--threads", str(arguments.threads)],
            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if worker.returncode != 0:
            print(f"{name}: not measured ({worker.stderr.strip().splitlines()[-1] if worker.stderr.strip() else 'failed'})")
            continue
        peers[name] = json.loads(worker.stdout.strip().splitlines()[-1])
    print(f"SmolLM2-135M-Instruct Q4_1, greedy {arguments.tokens} tokens, {arguments.threads} thread(s)")
    print("| | ours | " + " | ".join(peers) + " | " + " | ".join(f"ours/{name}" for name in peers) + " |")
    print("|---|---:|" + "---:|" * (2 * len(peers)))
    for key, label in [("secondsToFirstToken", "time to first token (s)"), ("tokensPerSecond", "decode tokens/s"),
                       ("peakRSSBytes", "peak RSS (MiB)")]:
        scale = 1 / 2**20 if key == "peakRSSBytes" else 1
        values = " | ".join(f"{peer[key] * scale:.3f}" for peer in peers.values())
        ratios = " | ".join(f"{mine[key] / peer[key]:.2f}" for peer in peers.values())
        print(f"| {label} | {mine[key] * scale:.3f} | {values} | {ratios} |")


if __name__ == "__main__":
    main()
