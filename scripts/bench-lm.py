#!/usr/bin/env python3
"""Prefill and decode speed of an LM: `llmrec lm bench` against llama.cpp (llama-cpp-python, which
quantises activations and multiplies quantised blocks like ours) and transformers (which dequantises
the GGUF to float32), on the same GGUF, the same prompt length (pseudo-random token ids), the same
number of greedy decode steps and the same thread count, each in its own process, best of --repeats.
Prints tokens/s for a --prompt-tokens prompt and for --decode-tokens steps, peak RSS, and ratios.

usage: python3 scripts/bench-lm.py [--llmrec BIN] [--model GGUF] [--threads 1] [--prompt-tokens 512]
                                   [--decode-tokens 128] [--repeats 3]
Needs llama-cpp-python (an sdist on PyPI: `pip install scikit-build-core cmake ninja` then
`pip install --no-build-isolation llama-cpp-python`) and torch, transformers, accelerate and gguf for
the transformers side; a missing peer is reported and skipped.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

HOME = os.environ.get("LLMREC_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmrec")
GGUF = os.path.join(HOME, "assets", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")


def prompt_ids(count, vocabulary):
    generator = random.Random(1)
    return [generator.randrange(vocabulary) for _ in range(count)]


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def transformers_side(arguments):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(arguments.threads)
    directory, name = os.path.split(arguments.model)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32).eval()
    ids = torch.tensor([prompt_ids(arguments.prompt_tokens, model.config.vocab_size)])
    best_prefill, best_decode = float("inf"), float("inf")
    with torch.no_grad():
        for _ in range(arguments.repeats):
            started = time.perf_counter()
            output = model(ids, use_cache=True)
            best_prefill = min(best_prefill, time.perf_counter() - started)
            past, token = output.past_key_values, output.logits[:, -1:].argmax(-1)
            started = time.perf_counter()
            for _ in range(arguments.decode_tokens):
                output = model(token, past_key_values=past, use_cache=True)
                past, token = output.past_key_values, output.logits[:, -1:].argmax(-1)
            best_decode = min(best_decode, time.perf_counter() - started)
    return {"prefillTokensPerSecond": arguments.prompt_tokens / best_prefill,
            "decodeTokensPerSecond": arguments.decode_tokens / best_decode, "peakRSSBytes": peak_rss()}


def llama_cpp_side(arguments):
    import numpy as np
    from llama_cpp import Llama

    model = Llama(model_path=arguments.model, n_threads=arguments.threads, n_threads_batch=arguments.threads,
                  n_ctx=arguments.prompt_tokens + arguments.decode_tokens + 8, n_batch=arguments.prompt_tokens, verbose=False)
    ids = prompt_ids(arguments.prompt_tokens, model.n_vocab())
    best_prefill, best_decode = float("inf"), float("inf")
    for _ in range(arguments.repeats):
        model.reset()
        started = time.perf_counter()
        model.eval(ids)
        best_prefill = min(best_prefill, time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(arguments.decode_tokens):
            logits = np.ctypeslib.as_array(model._ctx.get_logits(), shape=(model.n_vocab(),))
            model.eval([int(logits.argmax())])
        best_decode = min(best_decode, time.perf_counter() - started)
    return {"prefillTokensPerSecond": arguments.prompt_tokens / best_prefill,
            "decodeTokensPerSecond": arguments.decode_tokens / best_decode, "peakRSSBytes": peak_rss()}


def ours(arguments):
    process = subprocess.run(
        [arguments.llmrec, "lm", "bench", "--model", arguments.model, "--lm-threads", str(arguments.threads),
         "--prompt-tokens", str(arguments.prompt_tokens), "--decode-tokens", str(arguments.decode_tokens),
         "--repeats", str(arguments.repeats)], capture_output=True, text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": str(arguments.threads), "OPENBLAS_THREAD_TIMEOUT": "1"})
    if process.returncode != 0:
        raise SystemExit(f"llmrec lm bench failed: {process.stderr}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llmrec", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release", "llmrec"))
    parser.add_argument("--model", default=GGUF)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=["transformers", "llama.cpp"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        side = transformers_side if arguments.worker == "transformers" else llama_cpp_side
        print(json.dumps(side(arguments)))
        return
    mine = ours(arguments)
    peers = {}
    for name in ["llama.cpp", "transformers"]:
        worker = subprocess.run(
            [sys.executable, __file__, "--worker", name] + sys.argv[1:], capture_output=True, text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if worker.returncode != 0:
            print(f"{name}: not measured ({worker.stderr.strip().splitlines()[-1] if worker.stderr.strip() else 'failed'})")
            continue
        peers[name] = json.loads(worker.stdout.strip().splitlines()[-1])
    print(f"{os.path.basename(arguments.model)}: {arguments.prompt_tokens}-token prompt, {arguments.decode_tokens} greedy steps, "
          f"{arguments.threads} thread(s), best of {arguments.repeats}; ours: {mine['kernel']} kernels, OpenBLAS {mine.get('blas', '?')}")
    print("| | ours | " + " | ".join(peers) + " | " + " | ".join(f"ours/{name}" for name in peers) + " |")
    print("|---|---:|" + "---:|" * (2 * len(peers)))
    for key, label in [("prefillTokensPerSecond", "prefill tokens/s"), ("decodeTokensPerSecond", "decode tokens/s"),
                       ("peakRSSBytes", "peak RSS (MiB)")]:
        scale = 1 / 2**20 if key == "peakRSSBytes" else 1
        values = " | ".join(f"{peer[key] * scale:.1f}" for peer in peers.values())
        ratios = " | ".join(f"{mine[key] / peer[key]:.2f}" for peer in peers.values())
        print(f"| {label} | {mine[key] * scale:.1f} | {values} | {ratios} |")


if __name__ == "__main__":
    main()
