#!/usr/bin/env python3
"""SmolLM2-135M requantised to the K-quant mixes people download (Q4_K_M, Q5_K_M, Q6_K), and llama.cpp's
outputs on them, for Tests/ModelsTests/KQuantReferenceTests.

Two modes:

    python3 scripts/make-kquant-models.py models [OUT_DIR]
        Writes SmolLM2-135M-Instruct.{Q4_K_M,Q5_K_M,Q6_K}.gguf into OUT_DIR (default
        $LLMREC_HOME/assets/smollm2-kquants, where the tests look), skipping files already there whose
        tensors check out. Each tensor of the Q4_1 asset is dequantised (gguf-py, equal to
        ggml's dequantize_row_* bit for bit) and quantised by llama.cpp's own `ggml_quantize_chunk`
        (no importance matrix), taken from the prebuilt llama.cpp library in the `xllamacpp` wheel on
        PyPI, to the type llama.cpp's `llama_tensor_get_type` picks for the mix (`tensor_types` below).
        Every tensor's sha256 must equal the one recorded from llama.cpp's own `llama_model_quantize`
        (the `reference` mode), so the files hold exactly what `llama-quantize --allow-requantize`
        writes. Needs numpy, gguf and xllamacpp (pip); about 20 s a file.

    python3 scripts/make-kquant-models.py spread [MODELS_DIR]
        How far llama.cpp lies from its own recorded run when only its rounding changes: each file of
        MODELS_DIR (default as `models`) run by llama-cpp-python as recorded, with a Float32 KV cache
        instead of Float16, and with the prompt read one token at a time; prints, per prompt, the
        largest first-token logit difference from the recorded llama.cpp logits, and how many greedy
        continuations stay equal. Needs llama-cpp-python.

    python3 scripts/make-kquant-models.py reference OUT_JSON
        Quantises with llama-cpp-python's `llama_model_quantize` and records, per mix, every tensor's
        type and sha256, and two runs of each file on the test prompts: llama.cpp's (which rounds the
        activations to 8 bits, per block of 256 for the K-quants) and transformers' (which dequantises
        the file with gguf-py and computes in float32: the exact result for these weights). For each
        prompt: its tokens, the logits of the next token at the same ids (llama.cpp's 64 highest and
        192 drawn with a fixed seed) and 16 greedy tokens (argmax, no penalties). Needs llama-cpp-python
        (an sdist: `pip install scikit-build-core cmake ninja` then `pip install --no-build-isolation
        llama-cpp-python`, about 10 minutes to build on two cores), torch, transformers and accelerate.

The source is the Q4_1 asset that scripts/fetch-assets.sh fetches ($LLMREC_HOME/assets/smollm2-135m).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

MIXES = {"Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}  # llama_ftype values
PROMPTS = ["The capital of France is", "Toy Story is a movie about", "Hello world",
           "A good movie for a rainy Sunday afternoon is"]
GREEDY_TOKENS = 16
TOP_LOGITS = 64
SAMPLED_LOGITS = 192
SOURCE_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# ggml_type ids
F32, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K = 0, 6, 7, 8, 12, 13, 14
BLOCK = {Q5_0: 32, Q5_1: 32, Q8_0: 32, Q4_K: 256, Q5_K: 256, Q6_K: 256}
FALLBACK = {Q4_K: Q5_0, Q5_K: Q5_1, Q6_K: Q8_0}  # for rows that are not whole blocks of 256


def assets():
    """$LLMREC_HOME/assets, with the default home that scripts/fetch-assets.sh and the engine use."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.environ.get("LLMREC_HOME") or os.path.join(cache, "llmrec"), "assets")


def source_path():
    return os.path.join(assets(), "smollm2-135m", SOURCE_NAME)


def use_more_bits(layer, layers):
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def llama_order(tensors):
    """Tensors in the order llama.cpp's model loader keeps them (and quantises and writes them): those
    outside the blocks first, then block by block, by name within a block."""
    def key(tensor):
        parts = tensor.name.split(".")
        layer = int(parts[1]) if parts[0] == "blk" and parts[1].isdigit() else -1
        return layer, tensor.name
    return sorted(tensors, key=key)


def tensor_types(reader, mix):
    """The ggml type of every tensor of a tied-embedding Llama model under `mix`, as llama.cpp's
    llama_tensor_get_type picks it (no importance matrix, no overrides); 1-D tensors stay as they are."""
    default = {"Q4_K_M": Q4_K, "Q5_K_M": Q5_K, "Q6_K": Q6_K}[mix]
    layers = int(reader.fields["llama.block_count"].parts[-1][0])
    names = [t.name for t in reader.tensors]
    tied = "output.weight" not in names
    types, value_index, down_index = {}, 0, 0
    for tensor in llama_order(reader.tensors):
        name, columns = tensor.name, int(tensor.shape[0])
        if len(tensor.shape) == 1:
            types[name] = int(tensor.tensor_type)
            continue
        chosen = default
        if name == "output.weight" or (tied and name == "token_embd.weight"):
            chosen = Q8_0 if columns % 256 else Q6_K
        elif name.endswith("attn_v.weight"):
            if mix in ("Q4_K_M", "Q5_K_M") and use_more_bits(value_index, layers):
                chosen = Q6_K
            value_index += 1
        elif name.endswith("ffn_down.weight"):
            if mix in ("Q4_K_M", "Q5_K_M") and use_more_bits(down_index, layers):
                chosen = Q6_K
            down_index += 1
        if chosen in FALLBACK and columns % 256:
            chosen = FALLBACK[chosen]
        types[name] = chosen
    return types


def digest(data):
    return hashlib.sha256(np.ascontiguousarray(data).view(np.uint8).tobytes()).hexdigest()


def quantizer():
    """llama.cpp's ggml_quantize_chunk from the xllamacpp wheel's library."""
    import ctypes
    import importlib.util
    spec = importlib.util.find_spec("xllamacpp.xllamacpp")
    if spec is None:
        sys.exit("needs xllamacpp: python3 -m pip install xllamacpp")
    library = ctypes.CDLL(spec.origin)
    function = library.ggml_quantize_chunk
    function.restype = ctypes.c_size_t
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                         ctypes.c_int64, ctypes.c_void_p]

    def quantize(values, ggml_type, row_bytes):
        rows, columns = values.shape
        values = np.ascontiguousarray(values, dtype=np.float32)
        out = np.zeros((rows, row_bytes), dtype=np.uint8)
        written = function(ggml_type, values.ctypes.data, out.ctypes.data, 0, rows, columns, None)
        if written != out.nbytes:
            sys.exit(f"ggml_quantize_chunk wrote {written} bytes, expected {out.nbytes}")
        return out
    return quantize


def write_models(out_dir, reference):
    import gguf
    from gguf import GGMLQuantizationType, GGUFValueType
    source = source_path()
    if not os.path.exists(source):
        sys.exit(f"{source} is missing: run scripts/fetch-assets.sh smollm2")
    reader = gguf.GGUFReader(source)
    quantize = quantizer()
    os.makedirs(out_dir, exist_ok=True)
    for mix, ftype in MIXES.items():
        expected = reference["mixes"][mix]["tensors"]
        path = os.path.join(out_dir, f"SmolLM2-135M-Instruct.{mix}.gguf")
        if os.path.exists(path) and check(gguf.GGUFReader(path), expected) is None:
            print(f"{mix}: {path} (cached)", file=sys.stderr)
            continue
        types = tensor_types(reader, mix)
        writer = gguf.GGUFWriter(path + ".partial", "llama")
        for field in reader.fields.values():
            if field.name.startswith("GGUF.") or field.name == "general.architecture":
                continue
            if field.name == "general.file_type":
                writer.add_uint32(field.name, ftype)
                continue
            kind = field.types[0]
            sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
        for count, tensor in enumerate(llama_order(reader.tensors)):
            target = types[tensor.name]
            data = np.asarray(tensor.data)
            if int(tensor.tensor_type) != target:
                columns = int(tensor.shape[0])
                rows = int(np.prod(tensor.shape)) // columns
                values = gguf.quants.dequantize(data, GGMLQuantizationType(int(tensor.tensor_type))).reshape(rows, columns)
                block_bytes = gguf.GGML_QUANT_SIZES[GGMLQuantizationType(target)][1]
                data = quantize(values, target, columns // BLOCK[target] * block_bytes)
            writer.add_tensor(tensor.name, data, raw_dtype=GGMLQuantizationType(target))
            if (count + 1) % 68 == 0 or count + 1 == len(reader.tensors):
                print(f"{mix}: {count + 1}/{len(reader.tensors)} tensors", file=sys.stderr, flush=True)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        problem = check(gguf.GGUFReader(path + ".partial"), expected)
        if problem:
            os.remove(path + ".partial")
            sys.exit(f"{mix}: {problem} (not what llama.cpp's llama_model_quantize writes)")
        os.replace(path + ".partial", path)
        print(f"{mix}: {path}", file=sys.stderr)


def check(reader, expected):
    """None when every tensor has the recorded type and sha256, else what differs."""
    found = {t.name: [gguf_type_name(int(t.tensor_type)), digest(t.data)] for t in reader.tensors}
    if set(found) != set(expected):
        return f"tensor names differ: {sorted(set(found) ^ set(expected))[:5]}"
    for name, value in expected.items():
        if found[name] != value:
            return f"{name}: {found[name]} instead of {value}"
    return None


def gguf_type_name(ggml_type):
    from gguf import GGMLQuantizationType
    return GGMLQuantizationType(ggml_type).name


def transformers_runner(path):
    """A function from prompt tokens to transformers' next-token logits and 16 greedy tokens on the
    GGUF at `path` (dequantised to float32)."""
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(2)
    directory, name = os.path.split(path)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()

    def run(tokens):
        with torch.no_grad():
            logits = model(torch.tensor([tokens])).logits[0, -1].numpy()
            greedy = []
            for _ in range(GREEDY_TOKENS):
                greedy.append(int(model(torch.tensor([list(tokens) + greedy])).logits[0, -1].argmax()))
        return logits, greedy
    return run


def record_reference(out_json):
    import tempfile
    import gguf
    import llama_cpp
    source = source_path()
    result = {"source": SOURCE_NAME, "llama_cpp_python": llama_cpp.__version__, "prompts": PROMPTS, "mixes": {}}
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as scratch:
        for mix, ftype in MIXES.items():
            path = os.path.join(scratch, f"{mix}.gguf")
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = ftype
            params.allow_requantize = True
            params.nthread = 2
            status = llama_cpp.llama_model_quantize(source.encode(), path.encode(), params)
            if status != 0:
                sys.exit(f"llama_model_quantize failed for {mix}")
            reader = gguf.GGUFReader(path)
            tensors = {t.name: [gguf_type_name(int(t.tensor_type)), digest(t.data)] for t in reader.tensors}
            predicted = tensor_types(gguf.GGUFReader(source), mix)
            for name, (type_name, _) in tensors.items():
                if gguf_type_name(predicted[name]) != type_name:
                    sys.exit(f"{mix}: {name} is {type_name} in llama.cpp's file, the mix rule says {gguf_type_name(predicted[name])}")
            model = llama_cpp.Llama(model_path=path, n_ctx=256, n_threads=2, logits_all=True, verbose=False)
            exact = transformers_runner(path)
            cases = []
            for prompt in PROMPTS:
                tokens = model.tokenize(prompt.encode(), add_bos=False, special=False)
                model.reset()
                model.eval(tokens)
                logits = np.array(model.scores[len(tokens) - 1], dtype=np.float32)
                top = np.argsort(-logits)[:TOP_LOGITS]
                others = rng.choice(np.setdiff1d(np.arange(len(logits)), top), SAMPLED_LOGITS, replace=False)
                ids = [int(i) for i in np.concatenate([top, np.sort(others)])]
                greedy, step = [], logits
                for _ in range(GREEDY_TOKENS):
                    token = int(np.argmax(step))
                    greedy.append(token)
                    model.eval([token])
                    step = np.array(model.scores[model.n_tokens - 1], dtype=np.float32)
                exact_logits, exact_greedy = exact(tokens)
                cases.append({"prompt": prompt, "tokens": [int(t) for t in tokens],
                              "logits": [[i, round(float(logits[i]), 5)] for i in ids], "greedy": greedy,
                              "greedy_text": model.detokenize(greedy).decode("utf-8", "replace"),
                              "exact_logits": [[i, round(float(exact_logits[i]), 5)] for i in ids],
                              "exact_greedy": exact_greedy})
                print(f"{mix}: {prompt!r} -> llama.cpp {cases[-1]['greedy_text']!r}, exact "
                      f"{model.detokenize(exact_greedy).decode('utf-8', 'replace')!r}", file=sys.stderr)
            result["mixes"][mix] = {"ftype": ftype, "tensors": tensors, "cases": cases}
    with open(out_json, "w") as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")


def print_spread(models, reference):
    """llama.cpp against its recorded run (`reference`) under settings that change only its rounding."""
    import llama_cpp

    settings = [("as recorded", {}), ("Float32 KV cache", {"type_k": 0, "type_v": 0}),
                ("one prompt token at a time", {"n_batch": 1, "n_ubatch": 1})]
    for mix in MIXES:
        path = os.path.join(models, f"SmolLM2-135M-Instruct.{mix}.gguf")
        cases = reference["mixes"][mix]["cases"]
        for name, settings_kw in settings:
            model = llama_cpp.Llama(model_path=path, n_ctx=256, n_threads=2, logits_all=True, verbose=False, **settings_kw)
            distances, equal = [], 0
            for case in cases:
                tokens = case["tokens"]
                model.reset()
                model.eval(tokens)
                step = np.array(model.scores[len(tokens) - 1], dtype=np.float32)
                distances.append(max(abs(float(step[int(i)]) - value) for i, value in case["logits"]))
                greedy = []
                for _ in range(GREEDY_TOKENS):
                    greedy.append(int(np.argmax(step)))
                    model.eval([greedy[-1]])
                    step = np.array(model.scores[model.n_tokens - 1], dtype=np.float32)
                equal += greedy == case["greedy"]
            print(f"{mix} {name}: logits {' '.join(f'{d:.2f}' for d in distances)} from the recorded run; "
                  f"greedy equal in {equal} of {len(cases)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["models", "reference", "spread"])
    parser.add_argument("out", nargs="?", help="models and spread: the models' directory; reference: the JSON file")
    parser.add_argument("--reference", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelsTests",
                                                            "Fixtures", "smollm2_kquants_llamacpp.json"))
    arguments = parser.parse_args()
    if arguments.mode == "reference":
        if not arguments.out:
            parser.error("reference needs the JSON file to write")
        record_reference(arguments.out)
    elif arguments.mode == "spread":
        with open(arguments.reference) as handle:
            print_spread(arguments.out or os.path.join(assets(), "smollm2-kquants"), json.load(handle))
    else:
        with open(arguments.reference) as handle:
            write_models(arguments.out or os.path.join(assets(), "smollm2-kquants"), json.load(handle))


if __name__ == "__main__":
    main()
