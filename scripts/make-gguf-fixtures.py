#!/usr/bin/env python3
"""Writes the GGUF fixtures that Tests/CheckpointsTests reads, and gguf_expected.json with their contents.

Needs numpy and the `gguf` package from PyPI (llama.cpp's gguf-py; tested with gguf 0.19.0). The GGUF
container is written by hand here, so that the fixtures can hold what gguf-py's writer refuses (empty
and nested arrays of every element type, version 2, a custom alignment); each file is then read back
with gguf-py's own GGUFReader as a check. The quantised blocks come from gguf.quants.quantize, gguf-py's
port of llama.cpp's reference quantisers (quantize_row_q8_0_ref, ..._q4_0_ref, ..._q4_1_ref), and the
expected values from gguf.quants.dequantize, checked here against the block formulas written out.
Every file stays well under 100 KB.

- every_type.gguf (version 3, default alignment 32): metadata of every GGUF value type, arrays of
  every element type, an empty array and nested arrays (the Swift test spells these values out, so
  edit METADATA and GGUFFixtureTests together); tensors of type F32, F16, BF16, Q8_0, Q4_0 and Q4_1
  of 1 to 3 dimensions, with special values (signed zeros, infinities, a NaN, subnormals, an all-zero
  block, a block whose scale is a subnormal half); and two F32 tensors permuted as
  convert_hf_to_gguf.py permutes Llama's q_proj and k_proj (n_head 4, n_head_kv 2, head_dim 8, 16 inputs).
- aligned64_v2.gguf (version 2, general.alignment 64): three small tensors whose sizes are not
  multiples of 64, so every offset carries padding.
- kquants.gguf (version 3): the types of llama.cpp's Q4_K_M, Q5_K_M and Q6_K files. Q5_0 and Q5_1
  blocks come from gguf.quants.quantize; Q4_K, Q5_K and Q6_K blocks (which gguf-py cannot quantise)
  are random bytes with finite half-precision scales, and Q8_K blocks random int8 values with a
  Float32 scale and their true block sums. Expected values: gguf.quants.dequantize (Q8_K, which
  gguf-py lacks: d * q).

gguf_expected.json maps each file to its version, alignment, data-section offset and tensors in file
order: name, ggml type name and id, `ne` (ggml's dimension order, innermost first), `shape`
(row-major, ne reversed), offset within the data section, byte count, and `float32_bits`, the Float32
bit pattern of every dequantised element in row-major order (so NaNs and signed zeros compare exactly).
The permuted tensors also carry `hf_float32_bits`, the values before the permutation (what
GGUFFile.unpermuteLlamaQK must give back), and `heads`.

Regenerate: python3 scripts/make-gguf-fixtures.py Tests/CheckpointsTests/Fixtures

A second mode writes the q_proj/k_proj rows that transformers 4.57.6 reads from the real SmolLM2 Q4_1
GGUF (after its reverse permutation), which GGUFSmolLM2Tests compares with unpermuteLlamaQK:

    pip install transformers==4.57.6 torch
    python3 scripts/make-gguf-fixtures.py --smollm2-qk \
        "$LLMREC_HOME/assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf" \
        Tests/CheckpointsTests/Fixtures/smollm2_135m_q4_1_qk_rows.json
"""
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

# GGUF value type ids (gguf.GGUFValueType).
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
PACK = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
        U64: "<Q", I64: "<q", F64: "<d"}


def pack_string(text):
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def pack_value(vtype, value):
    """A value without its type tag. Arrays are (element_type, [values])."""
    if vtype == STRING:
        return pack_string(value)
    if vtype == ARRAY:
        element_type, items = value
        return struct.pack("<IQ", element_type, len(items)) + b"".join(pack_value(element_type, v) for v in items)
    return struct.pack(PACK[vtype], value)


def pad(n, alignment):
    return (n + alignment - 1) // alignment * alignment


def write_gguf(path, metadata, tensors, version=3, alignment=32):
    """metadata: [(key, type, value)]; tensors: [(name, qtype, ne, raw_bytes)] in file order.
    Returns (data_start, offsets)."""
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, vtype, value in metadata:
        out += pack_string(key) + struct.pack("<I", vtype) + pack_value(vtype, value)
    offsets, cursor = [], 0
    for name, qtype, ne, raw in tensors:
        offsets.append(cursor)
        out += pack_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", int(qtype), cursor)
        cursor = pad(cursor + len(raw), alignment)
    data_start = pad(len(out), alignment)
    out += bytes(data_start - len(out))
    for (name, qtype, ne, raw), offset in zip(tensors, offsets):
        assert len(out) == data_start + offset
        out += raw + bytes(pad(len(raw), alignment) - len(raw))
    with open(path, "wb") as f:
        f.write(out)
    assert len(out) < 100_000, f"{path} is {len(out)} bytes"
    return data_start, offsets


def half_bits(values):
    return np.array(values, dtype=np.float16)


def bf16_from_float32(values):
    """Round-to-nearest-even float32 -> bfloat16 bits, NaN kept quiet (ggml_compute_fp32_to_bf16)."""
    return np.frombuffer(gguf.quants.quantize(np.asarray(values, dtype=np.float32), Q.BF16).tobytes(),
                         dtype=np.uint16)


def dequantised(raw, qtype, ne):
    """Expected Float32 values, row-major, from gguf-py, checked against the block formulas."""
    values = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).reshape(-1).astype(np.float32)
    blocks = np.frombuffer(raw, dtype=np.uint8)
    if qtype in (Q.Q8_0, Q.Q4_0, Q.Q4_1):
        size = {Q.Q8_0: 34, Q.Q4_0: 18, Q.Q4_1: 20}[qtype]
        blocks = blocks.reshape(-1, size)
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        if qtype == Q.Q8_0:
            by_formula = blocks[:, 2:].copy().view(np.int8).astype(np.float32) * d
        else:
            nibbles = blocks[:, -16:]
            q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32)  # low: 0..15, high: 16..31
            if qtype == Q.Q4_0:
                by_formula = (q - 8) * d
            else:
                m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
                by_formula = q * d + m
        assert np.array_equal(by_formula.reshape(-1).view(np.uint32), values.view(np.uint32)), qtype
    assert values.size == int(np.prod(ne))
    return values


def tensor_entry(name, qtype, values_or_raw, ne):
    """(tensor tuple for write_gguf, expected JSON entry). values are float32 row-major [ne reversed]."""
    if isinstance(values_or_raw, (bytes, bytearray)):
        raw = bytes(values_or_raw)
    else:
        data = np.asarray(values_or_raw, dtype=np.float32).reshape(list(reversed(ne)))
        raw = gguf.quants.quantize(data, qtype).tobytes()
    expected = dequantised(raw, qtype, ne) if qtype not in (Q.F32, Q.F16, Q.BF16) else None
    if qtype == Q.F32:
        expected = np.frombuffer(raw, dtype=np.float32)
    elif qtype == Q.F16:
        expected = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
    elif qtype == Q.BF16:
        expected = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    entry = {
        "name": name, "type": qtype.name, "type_id": int(qtype), "ne": list(ne), "shape": list(reversed(ne)),
        "byte_count": len(raw), "float32_bits": [int(b) for b in np.asarray(expected, dtype=np.float32).view(np.uint32)],
    }
    return (name, qtype, list(ne), raw), entry


def random_kquant_blocks(rng, qtype, count):
    """`count` valid blocks of a K-quant: random bytes, with the scales made finite and moderate."""
    size = {Q.Q4_K: 144, Q.Q5_K: 176, Q.Q6_K: 210, Q.Q8_K: 292}[qtype]
    blocks = rng.integers(0, 256, size=(count, size), dtype=np.uint8)
    def halves(n):
        return rng.uniform(-0.08, 0.08, size=(count, n)).astype(np.float16).view(np.uint8)
    if qtype in (Q.Q4_K, Q.Q5_K):
        blocks[:, 0:4] = halves(2)  # d, dmin
    elif qtype == Q.Q6_K:
        blocks[:, 208:210] = halves(1)  # d, after ql, qh and the int8 scales
    else:
        blocks[:, 0:4] = rng.uniform(-0.01, 0.01, size=(count, 1)).astype(np.float32).view(np.uint8)
        q = blocks[:, 4:260].view(np.int8).astype(np.int16)
        blocks[:, 260:292] = q.reshape(count, 16, 16).sum(axis=2).astype(np.int16).view(np.uint8)
    return blocks.tobytes()


def kquant_values(raw, qtype):
    """Expected Float32 values of K-quant blocks: gguf-py's dequantiser; Q8_K (which it lacks) by formula."""
    if qtype != Q.Q8_K:
        return gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).reshape(-1).astype(np.float32)
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 292)
    d = blocks[:, 0:4].copy().view(np.float32)
    return (blocks[:, 4:260].copy().view(np.int8).astype(np.float32) * d).reshape(-1)


def kquants(out, rng):
    tensors, entries = [], []

    def add(name, qtype, raw, ne, values):
        entry = {
            "name": name, "type": qtype.name, "type_id": int(qtype), "ne": list(ne), "shape": list(reversed(ne)),
            "byte_count": len(raw), "float32_bits": [int(b) for b in np.asarray(values, dtype=np.float32).view(np.uint32)],
        }
        tensors.append((name, qtype, list(ne), raw))
        entries.append(entry)

    for qtype, name in ((Q.Q5_0, "q5_0.matrix"), (Q.Q5_1, "q5_1.matrix")):
        data = rng.standard_normal((3, 64)).astype(np.float32)
        data[0, :32] = 0.0  # an all-zero block
        data[2, 32:] = np.arange(32, dtype=np.float32)  # every 5-bit value
        raw = gguf.quants.quantize(data, qtype).tobytes()
        add(name, qtype, raw, [64, 3], dequantised(raw, qtype, [64, 3]))
    for qtype, name in ((Q.Q4_K, "q4_k.matrix"), (Q.Q5_K, "q5_k.matrix"), (Q.Q6_K, "q6_k.matrix"), (Q.Q8_K, "q8_k.matrix")):
        raw = random_kquant_blocks(rng, qtype, 4)
        add(name, qtype, raw, [512, 2], kquant_values(raw, qtype))

    data_start, offsets = write_gguf(os.path.join(out, "kquants.gguf"), METADATA, tensors)
    for entry, offset in zip(entries, offsets):
        entry["offset"] = offset
    return {"version": 3, "alignment": 32, "data_start": data_start, "tensors": entries}


def llama_permute(weights, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute for q_proj (n_head) and k_proj (n_head_kv)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


# Edit together with GGUFFixtureTests.everyMetadataType.
METADATA = [
    ("general.architecture", STRING, "llama"),
    ("general.name", STRING, "fixture \u2728 \"quoted\""),
    ("test.uint8", U8, 200),
    ("test.int8", I8, -100),
    ("test.uint16", U16, 60000),
    ("test.int16", I16, -30000),
    ("test.uint32", U32, 4_000_000_000),
    ("test.int32", I32, -2_000_000_000),
    ("test.uint64", U64, 18_000_000_000_000_000_000),
    ("test.int64", I64, -9_000_000_000_000_000_000),
    ("test.float32", F32, 0.1),
    ("test.float64", F64, 0.1),
    ("test.true", BOOL, True),
    ("test.false", BOOL, False),
    ("test.empty_string", STRING, ""),
    ("test.array.uint8", ARRAY, (U8, [1, 2, 255])),
    ("test.array.int8", ARRAY, (I8, [-128, 127])),
    ("test.array.uint16", ARRAY, (U16, [65535])),
    ("test.array.int16", ARRAY, (I16, [-1, 2])),
    ("test.array.uint32", ARRAY, (U32, [7, 4_000_000_000])),
    ("test.array.int32", ARRAY, (I32, [-5, 0, 5])),
    ("test.array.uint64", ARRAY, (U64, [2**64 - 1])),
    ("test.array.int64", ARRAY, (I64, [-(2**63), 2**63 - 1])),
    ("test.array.float32", ARRAY, (F32, [0.5, -1.25])),
    ("test.array.float64", ARRAY, (F64, [1e300, -0.0])),
    ("test.array.bool", ARRAY, (BOOL, [True, False, True])),
    ("test.array.string", ARRAY, (STRING, ["a", "", "\u00fc\u00df"])),
    ("test.array.empty", ARRAY, (I32, [])),
    ("test.array.nested", ARRAY, (ARRAY, [(I32, [1, 2]), (I32, [3]), (I32, [])])),
    ("test.array.nested_strings", ARRAY, (ARRAY, [(STRING, ["x", "y"]), (STRING, ["z"])])),
    ("test.array.deep", ARRAY, (ARRAY, [(ARRAY, [(U8, [9])])])),
    ("llama.attention.head_count", U32, 4),
    ("llama.attention.head_count_kv", U32, 2),
]


def every_type(out, rng):
    tensors, entries = [], []

    def add(name, qtype, values, ne):
        tensor, entry = tensor_entry(name, qtype, values, ne)
        tensors.append(tensor)
        entries.append(entry)
        return entry

    nan_bits = np.array([0x7FC0_0001], dtype=np.uint32).view(np.float32)[0]  # a quiet NaN with a payload
    f32 = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, nan_bits, 1e-45, 3.4028235e38, 0.1,
                    7.0, -8.0, 1e-3, 123.456, -0.5], dtype=np.float32)
    add("f32.matrix", Q.F32, f32.tobytes(), [5, 3])
    add("f32.vector", Q.F32, rng.standard_normal(7).astype(np.float32).tobytes(), [7])
    f16 = half_bits([0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6.1035156e-05, 5.9604645e-08, np.inf, -np.inf,
                     np.nan, 0.333, -1e-7, 1000.0, 0.1, 2.0, 3.0, 4.0, -5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    add("f16.matrix", Q.F16, f16.tobytes(), [6, 4])
    bf16 = bf16_from_float32([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 1e38, 1e-39, 0.1, 3.14159,
                              -100.0, 65504.0, 1e-3, 7.0, -7.0])
    add("bf16.matrix", Q.BF16, bf16.tobytes(), [8, 2])

    q8 = rng.standard_normal((3, 64)).astype(np.float32)
    q8[1, 32:] = 0.0  # an all-zero block: d = 0
    q8[2, :32] = np.linspace(-1e-6, 1e-6, 32)  # a scale that is a subnormal half
    add("q8_0.matrix", Q.Q8_0, q8, [64, 3])
    add("q8_0.cube", Q.Q8_0, rng.standard_normal((2, 3, 32)).astype(np.float32) * 4, [32, 3, 2])

    q40 = rng.standard_normal((4, 64)).astype(np.float32)
    q40[0, :32] = 0.0
    q40[1, :32] = np.arange(32, dtype=np.float32) - 20.0  # max |x| is negative: d > 0
    q40[2, 32:] = np.arange(32, dtype=np.float32)  # every nibble from 0 to 15 occurs
    q40[3, :32] = np.linspace(-2e-6, 1e-6, 32)
    add("q4_0.matrix", Q.Q4_0, q40, [64, 4])

    q41 = rng.standard_normal((5, 96)).astype(np.float32) + 0.5
    q41[0, :32] = 3.0  # constant block: d = 0, m = 3
    q41[1, 32:64] = np.arange(32, dtype=np.float32) * 0.25 - 4.0
    q41[4, 64:] = np.linspace(1e-6, 2e-6, 32)
    add("q4_1.matrix", Q.Q4_1, q41, [96, 5])

    # Llama q/k as convert_hf_to_gguf.py stores them: [n_head * head_dim, in], rows permuted per head.
    for name, heads, rows in (("blk.0.attn_q.weight", 4, 32), ("blk.0.attn_k.weight", 2, 16)):
        hf = (np.arange(rows * 16, dtype=np.float32) * 0.01).reshape(rows, 16)
        entry = add(name, Q.F32, llama_permute(hf, heads).astype(np.float32).tobytes(), [16, rows])
        entry["hf_float32_bits"] = [int(b) for b in hf.reshape(-1).view(np.uint32)]
        entry["heads"] = heads

    data_start, offsets = write_gguf(os.path.join(out, "every_type.gguf"), METADATA, tensors)
    for entry, offset in zip(entries, offsets):
        entry["offset"] = offset
    return {"version": 3, "alignment": 32, "data_start": data_start, "tensors": entries}


def aligned64(out, rng):
    tensors, entries = [], []
    for name, qtype, values, ne in (
        ("a", Q.F32, np.array([1.5, -2.0, 3.25], dtype=np.float32).tobytes(), [3]),
        ("b", Q.Q8_0, rng.standard_normal((1, 32)).astype(np.float32), [32, 1]),
        ("c", Q.F16, half_bits([0.5, 0.25, -4.0, 8.0, 1.0]).tobytes(), [5]),
    ):
        tensor, entry = tensor_entry(name, qtype, values, ne)
        tensors.append(tensor)
        entries.append(entry)
    metadata = [("general.alignment", U32, 64), ("general.architecture", STRING, "test")]
    data_start, offsets = write_gguf(os.path.join(out, "aligned64_v2.gguf"), metadata, tensors, version=2,
                                     alignment=64)
    for entry, offset in zip(entries, offsets):
        entry["offset"] = offset
    return {"version": 2, "alignment": 64, "data_start": data_start, "tensors": entries}


def check_with_gguf_reader(path, expected):
    """Reads the file back with gguf-py, independently of the writer above."""
    reader = gguf.GGUFReader(path)
    assert reader.data_offset == expected["data_start"], (path, reader.data_offset)
    assert [t.name for t in reader.tensors] == [e["name"] for e in expected["tensors"]]
    for tensor, entry in zip(reader.tensors, expected["tensors"]):
        assert int(tensor.tensor_type) == entry["type_id"]
        assert [int(d) for d in tensor.shape] == entry["ne"]
        assert tensor.data_offset == expected["data_start"] + entry["offset"]
        assert tensor.n_bytes == entry["byte_count"]


def smollm2_qk(model_path, out_path):
    """q_proj/k_proj rows as transformers reads them from the GGUF (dequantised, reverse-permuted)."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = load_gguf_checkpoint(model_path, return_tensors=False)["config"]
    config.pop("model_type", None)
    config.pop("architectures", None)
    model = LlamaForCausalLM(LlamaConfig(**config))
    tensors = load_gguf_checkpoint(model_path, return_tensors=True, model_to_load=model)["tensors"]
    result = {"note": "transformers 4.57.6 load_gguf_checkpoint: Q4_1 dequantised by gguf-py, q/k rows "
                      "reverse-permuted (LlamaTensorProcessor); made by scripts/make-gguf-fixtures.py --smollm2-qk"}
    for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                 "model.layers.29.self_attn.k_proj.weight"):
        weights = tensors[name]
        for row in (0, 1, 2, 31, 32, 33, 63, 64, 100, 191):
            if row < weights.shape[0]:
                result[f"{name}[{row},:8]"] = [round(float(x), 6) for x in weights[row, :8]]
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--smollm2-qk":
        smollm2_qk(sys.argv[2], sys.argv[3])
        return
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/CheckpointsTests/Fixtures"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20250611)
    expected = {"every_type.gguf": every_type(out, rng), "aligned64_v2.gguf": aligned64(out, rng),
                "kquants.gguf": kquants(out, np.random.default_rng(20261205))}
    for name, entry in expected.items():
        check_with_gguf_reader(os.path.join(out, name), entry)
    with open(os.path.join(out, "gguf_expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
