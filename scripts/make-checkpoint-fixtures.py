#!/usr/bin/env python3
"""Writes the checkpoint fixtures that Tests/CheckpointsTests reads, and expected.json with their contents.

Needs torch and safetensors (CPU builds are enough). Every file stays well under 100 KB.

- state_dict.pth: a module state dict (OrderedDict with `_metadata`, saved with torch.save's default
  pickle protocol 2) plus float16, bfloat16, float64, int64, int32, int16, int8, uint8 and bool
  tensors, a scalar, an empty tensor, and views saved as views: a transposed matrix, a strided slice
  with a storage offset, a view sharing the transposed matrix's storage, an expanded (stride 0) row
  and a transposed float16 matrix.
- state_dict_protocol5.pth: a smaller state dict saved with pickle_protocol=5 (FRAME, MEMOIZE,
  SHORT_BINUNICODE, STACK_GLOBAL).
- sasrec_kwargs.pth: `torch.save([kwargs, state_dict])` as SASRec does in A-LLMRec, kwargs holding an
  argparse.Namespace.
- complex.pth: a state dict with a complex64 tensor, which the reader keeps as a generic object.
- deflated.pth: state_dict.pth with its entries deflated (torch.save never does this).
- zip64.pth: state_dict.pth rewritten with ZIP64 records everywhere (as torch.save writes archives
  over 4 GiB).
- legacy.pth: the pre-1.6 non-zip format (_use_new_zipfile_serialization=False).
- mixed.safetensors: F32, F16, BF16, F64, I64, I32, U8 and BOOL tensors, a scalar, an empty tensor and
  metadata.

expected.json maps each file to its tensors in saved order: name, dtype, shape, and either
`float32_bits` (the Float32 bit pattern of every element, row-major, so NaN payloads and signed zeros
compare exactly) or `int64` values; plus the metadata of mixed.safetensors. The tests spell out the
sasrec_kwargs.pth kwargs themselves, so edit them together with the Namespace below.

Regenerate: python3 scripts/make-checkpoint-fixtures.py Tests/CheckpointsTests/Fixtures
"""
import argparse
import collections
import json
import os
import struct
import sys
import zipfile

import numpy
import torch
from safetensors.torch import save_file

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/CheckpointsTests/Fixtures"
os.makedirs(out, exist_ok=True)
torch.manual_seed(20240611)
expected = {}

FLOATS = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}
INTS = {torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
        torch.bool: "BOOL"}


def describe(name, t):
    entry = {"name": name, "shape": list(t.shape)}
    if t.dtype in FLOATS:
        entry["dtype"] = FLOATS[t.dtype]
        if t.dtype == torch.float16:
            # numpy converts a NaN keeping its payload, as F16C does; torch's vectorised
            # conversion returns 0x7FFFFFFF for every NaN.
            bits = t.detach().contiguous().numpy().astype(numpy.float32).view(numpy.uint32).flatten().tolist()
        else:
            bits = [b & 0xFFFFFFFF for b in t.detach().to(torch.float32).contiguous().flatten().view(torch.int32).tolist()]
        entry["float32_bits"] = bits
    else:
        entry["dtype"] = INTS[t.dtype]
        entry["int64"] = t.to(torch.int64).flatten().tolist()
    return entry


def describe_all(state):
    return [describe(name, t) for name, t in state.items()]


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(4, 3)
        self.linear = torch.nn.Linear(3, 2)
        self.norm = torch.nn.BatchNorm1d(2)


state = Tiny().state_dict()  # OrderedDict with _metadata; norm.num_batches_tracked is an int64 scalar
nan16 = float("nan")
state["extra.half"] = torch.tensor(
    [1.0, -2.5, 65504.0, 2.0 ** -24, 6.1035156e-05, -0.0, float("inf"), float("-inf"), nan16, 1 / 3],
    dtype=torch.float16)
state["extra.bfloat16"] = torch.cat([torch.randn(4), torch.tensor([1e38, -1e-38])]).reshape(3, 2).to(torch.bfloat16)
state["extra.float64"] = torch.tensor([[0.1, -1e300], [1e-300, 3.141592653589793]], dtype=torch.float64)
state["extra.int64"] = torch.tensor([0, -1, 2 ** 40, -(2 ** 62), 2 ** 62 + 1], dtype=torch.int64)
state["extra.int32"] = torch.tensor([[7, -8], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32)
state["extra.int16"] = torch.tensor([-32768, 32767], dtype=torch.int16)
state["extra.int8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
state["extra.uint8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
state["extra.bool"] = torch.tensor([True, False, True])
base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8
state["extra.transposed"] = base.t()  # size (4, 3), stride (1, 4)
state["extra.shared_row"] = base[1]  # same storage, offset 4
wide = torch.randn(4, 6)
state["extra.sliced"] = wide[1:, ::2]  # offset 6, stride (6, 2)
state["extra.expanded"] = torch.tensor([1.5, -2.0]).expand(3, 2)  # stride (0, 1)
state["extra.half_transposed"] = torch.randn(2, 3).to(torch.float16).t()
state["extra.scalar"] = torch.tensor(3.25)
state["extra.empty"] = torch.zeros(0, 3)
assert not state["extra.transposed"].is_contiguous() and not state["extra.sliced"].is_contiguous()
torch.save(state, os.path.join(out, "state_dict.pth"))
expected["state_dict.pth"] = {"tensors": describe_all(state)}

small = collections.OrderedDict()
small["weight"] = torch.randn(2, 3)
small["weight_t"] = small["weight"].t()
small["ids"] = torch.tensor([3, 1, 2])
small["half"] = torch.randn(3).to(torch.float16)
torch.save(small, os.path.join(out, "state_dict_protocol5.pth"), pickle_protocol=5)
expected["state_dict_protocol5.pth"] = {"tensors": describe_all(small)}


class SASRecLike(torch.nn.Module):
    """The parameter names of SASRec in A-LLMRec (pre_train/sasrec/model.py), at a tiny size."""

    def __init__(self, item_num, hidden, maxlen, blocks):
        super().__init__()
        self.item_emb = torch.nn.Embedding(item_num + 1, hidden, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(maxlen, hidden)
        self.attention_layernorms = torch.nn.ModuleList([torch.nn.LayerNorm(hidden) for _ in range(blocks)])
        self.attention_layers = torch.nn.ModuleList(
            [torch.nn.MultiheadAttention(hidden, 1) for _ in range(blocks)])
        self.forward_layernorms = torch.nn.ModuleList([torch.nn.LayerNorm(hidden) for _ in range(blocks)])
        self.forward_layers = torch.nn.ModuleList([torch.nn.Conv1d(hidden, hidden, 1) for _ in range(blocks)])
        self.last_layernorm = torch.nn.LayerNorm(hidden)


args = argparse.Namespace(dataset="Movies_and_TV", batch_size=128, lr=0.001, maxlen=5, hidden_units=4,
                          num_blocks=1, num_epochs=200, num_heads=1, dropout_rate=0.5, l2_emb=0.0,
                          device="cpu", inference_only=False, state_dict_path=None)
kwargs = {"user_num": 9, "item_num": 7, "args": args}
sasrec = SASRecLike(7, 4, 5, 1).state_dict()
torch.save([kwargs, sasrec], os.path.join(out, "sasrec_kwargs.pth"))
expected["sasrec_kwargs.pth"] = {"tensors": describe_all(sasrec)}

torch.save({"real": torch.tensor([0.5, 2.0]), "complex": torch.tensor([1 + 2j, -3j], dtype=torch.complex64)},
           os.path.join(out, "complex.pth"))

with zipfile.ZipFile(os.path.join(out, "state_dict.pth")) as source:
    entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
with zipfile.ZipFile(os.path.join(out, "deflated.pth"), "w", compression=zipfile.ZIP_DEFLATED) as target:
    for name, data in entries:
        target.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED)


def write_zip64(path, entries):
    """Every size and offset in ZIP64 extra fields, a ZIP64 end record and locator, entries stored."""
    blob = bytearray()
    central = bytearray()
    for name, data in entries:
        crc = zipfile.crc32(data) & 0xFFFFFFFF
        encoded = name.encode()
        offset = len(blob)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        blob += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                            len(encoded), len(local_extra)) + encoded + local_extra + data
        central_extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(encoded), len(central_extra), 0, 0, 0, 0, 0xFFFFFFFF)
        central += encoded + central_extra
    directory_offset = len(blob)
    blob += central
    record_offset = len(blob)
    blob += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries), len(central),
                        directory_offset)
    blob += struct.pack("<IIQI", 0x07064B50, 0, record_offset, 1)
    blob += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(blob)


write_zip64(os.path.join(out, "zip64.pth"), entries)
with zipfile.ZipFile(os.path.join(out, "zip64.pth")) as check:
    assert check.testzip() is None and [i.filename for i in check.infolist()] == [n for n, _ in entries]
reloaded = torch.load(os.path.join(out, "zip64.pth"))
assert all(torch.equal(reloaded[k], v) or k == "extra.half" for k, v in state.items())

torch.save({"weight": torch.ones(2)}, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)

mixed = {
    "f32": torch.randn(2, 3),
    "f16": state["extra.half"].clone(),
    "bf16": state["extra.bfloat16"].clone(),
    "f64": state["extra.float64"].clone(),
    "i64": state["extra.int64"].clone(),
    "i32": state["extra.int32"].clone(),
    "u8": state["extra.uint8"].clone(),
    "bool": state["extra.bool"].clone(),
    "scalar": torch.tensor(-0.75),
    "empty": torch.zeros(0, 4),
}
metadata = {"format": "pt", "note": "fixture \u2728 \"quoted\""}
save_file(mixed, os.path.join(out, "mixed.safetensors"), metadata=metadata)
with open(os.path.join(out, "mixed.safetensors"), "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
order = sorted((k for k in header if k != "__metadata__"), key=lambda k: (header[k]["data_offsets"], k))
expected["mixed.safetensors"] = {"tensors": [describe(k, mixed[k]) for k in order], "metadata": metadata}

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
for name in sorted(os.listdir(out)):
    size = os.path.getsize(os.path.join(out, name))
    assert size < 100_000, f"{name} is {size} bytes"
    print(f"{size:8d}  {name}")
