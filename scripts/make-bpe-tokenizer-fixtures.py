#!/usr/bin/env python3
"""Writes the byte-level BPE fixtures that Tests/TokenizersTests reads (see Fixtures/README.md there).

Each tokenizer is built with Hugging Face `tokenizers` from a GGUF's vocabulary and merges, then saved
as a *shell*: its `tokenizer.json` exactly as `tokenizers` serialises it, but with `model.vocab` and
`model.merges` emptied, so the vocabulary is committed once (inside the GGUF) rather than twice. The
Swift tests read the GGUF's metadata, fill the shell back in and load it as `tokenizer.json`.

  gpt2.shell.json                GPT-2: ByteLevel pre-tokenizer (GPT-2 regex), `<|endoftext|>` special.
                                 The script checks that it reproduces ggml-vocab-gpt-2.gguf.out.
  gpt2-llama3-split.shell.json   GPT-2's vocabulary with Llama-3's pre-tokenizer (Split on Llama-3's
                                 regex, then ByteLevel without regex), `ignore_merges: true` and a
                                 TemplateProcessing that puts `<|endoftext|>` first, as Llama 3 does
                                 with `<|begin_of_text|>`. No Llama-3 vocabulary is redistributable
                                 here, so this exercises Llama-3's regex with GPT-2's merges.
  gpt2-llama3-split.out          its ids for the 46 texts of ggml-vocab-gpt-2.gguf.inp, without the
                                 template's `<|endoftext|>`, one line per text, each id after a space.
  smollm2-135m.shell.json        SmolLM2-135M-Instruct as llama.cpp's pre-tokenizer "smollm" describes
                                 it (each digit split off, then the GPT-2 regex), with the GGUF's
                                 control tokens (`<|im_start|>`, ...) as special added tokens.
  smollm2-135m.out               its ids for the same 46 texts.
  smollm2-135m-cases.json        [{"text", "ids"}] for ChatML prompts, digit runs and the texts of
                                 golden/smollm2_135m_q4_1_reference.json, with `<|im_start|>` etc. whole.
  bpe-random-cases.json          [{"text", "gpt2", "llama3", "smollm2"}]: 400 seeded random texts of
                                 characters the pre-tokenisers treat specially (apostrophes and
                                 contraction letters, `ſ`, every kind of whitespace, digits of several
                                 scripts, marks, emoji, ZWJ, controls), with the ids of the three
                                 tokenizers above.

Before writing, the script checks that the GPT-2 tokenizer gives ggml-vocab-gpt-2.gguf.out and that
the SmolLM2 one gives the input_ids of smollm2_135m_q4_1_reference.json (both in the fixtures folder).

Needs `gguf` and `tokenizers` (pip), the copied fixtures named above in the fixtures folder, and
SmolLM2-135M-Instruct.Q4_1.gguf under $LLMREC_HOME/assets/smollm2-135m/ (scripts/fetch-assets.sh).
Regenerate: python3 scripts/make-bpe-tokenizer-fixtures.py Tests/TokenizersTests/Fixtures
"""
import json
import os
import random
import sys

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE

LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/TokenizersTests/Fixtures"
home = os.environ.get("LLMREC_HOME") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmrec")
smollm2_path = os.path.join(home, "assets", "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf")
reference_path = os.path.join(out, "smollm2_135m_q4_1_reference.json")


def read_vocabulary(path):
    """tokens, merges and token types of a GGUF."""
    reader = gguf.GGUFReader(path)

    def strings(name):
        field = reader.fields[name]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    types_field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(types_field.parts[i][0]) for i in types_field.data]
    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"), types


def build(tokens, merges, types, ignore_merges=False):
    """A BPE tokenizer with the GGUF's control tokens (type 3) as special added tokens."""
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(BPE(vocab, [tuple(merge.split(" ")) for merge in merges], ignore_merges=ignore_merges))
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t, kind in zip(tokens, types) if kind == 3])
    return tokenizer


def write_shell(tokenizer, name):
    shell = json.loads(tokenizer.to_str())
    shell["model"]["vocab"] = {}
    shell["model"]["merges"] = []
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        json.dump(shell, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_ids(tokenizer, texts, name):
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        for text in texts:
            f.write("".join(f" {i}" for i in tokenizer.encode(text, add_special_tokens=False).ids) + "\n")


with open(os.path.join(out, "ggml-vocab-gpt-2.gguf.inp"), encoding="utf-8", newline="") as f:
    texts = f.read().split("\n__ggml_vocab_test__\n")[:-1]
assert len(texts) == 46, len(texts)

# GPT-2, checked against llama.cpp's golden ids.
tokens, merges, types = read_vocabulary(os.path.join(out, "ggml-vocab-gpt-2.gguf"))
gpt2 = build(tokens, merges, types)
gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
with open(os.path.join(out, "ggml-vocab-gpt-2.gguf.out"), encoding="utf-8") as f:
    golden = [[int(i) for i in line.split()] for line in f.read().split("\n")[:-1]]
for text, ids in zip(texts, golden):
    assert gpt2.encode(text, add_special_tokens=False).ids == ids, text
write_shell(gpt2, "gpt2.shell.json")

# GPT-2's vocabulary behind Llama-3's pre-tokenizer.
llama3 = build(tokens, merges, types, ignore_merges=True)
llama3.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
])
llama3.post_processor = processors.Sequence([
    processors.ByteLevel(trim_offsets=False),
    processors.TemplateProcessing(single="<|endoftext|> $A", pair="<|endoftext|> $A <|endoftext|> $B",
                                  special_tokens=[("<|endoftext|>", 50256)]),
])
write_shell(llama3, "gpt2-llama3-split.shell.json")
write_ids(llama3, texts, "gpt2-llama3-split.out")

# SmolLM2-135M-Instruct.
tokens, merges, types = read_vocabulary(smollm2_path)
smollm2 = build(tokens, merges, types)
smollm2.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Digits(individual_digits=True),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
])
with open(reference_path, encoding="utf-8") as f:
    reference = json.load(f)
for case in reference["cases"] + [reference["per_layer_debug"]]:
    assert smollm2.encode(case["prompt"], add_special_tokens=False).ids == case["input_ids"], case["prompt"]
write_shell(smollm2, "smollm2-135m.shell.json")
write_ids(smollm2, texts, "smollm2-135m.out")

cases = [
    "The capital of France is",
    "Toy Story is a movie about",
    "Hello world",
    " Paris.\n\nThe answer is: 201",
    " of the future.\n\nI'm excited to share my",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nRecommend one movie after Toy Story (1995) and Heat (1995).<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_end|><|im_start|><|endoftext|>",
    "a<|im_start|>b <|im_end|> c",
    "In 2024, 1,234,567.89 people paid $3.50 for 12 apples (x2)!",
    "Ⅻ ² ¾ ٣٤ 𝟙𝟚",
    "line one\r\nline two\n\n\n  indented\ttab   \n",
    "It's they'll we've I'M you'D",
]
with open(os.path.join(out, "smollm2-135m-cases.json"), "w", encoding="utf-8") as f:
    rows = [json.dumps({"text": text, "ids": smollm2.encode(text, add_special_tokens=False).ids}, ensure_ascii=False)
            for text in cases]
    f.write("[\n" + ",\n".join(rows) + "\n]\n")
# Random texts: the regexes' corners, far more combinations than anyone would write by hand.
random.seed(20241129)
pool = (list(" \t\n\r'sStTmMdDrReEvVlL") + list("\u017fabcxyzABC0123456789\u0663\u00b2\u00be\u216b")
        + ["\u00a0", "\u2028", "\u0085", "\u3000", "\u200b", "\u0301", "\u00e9", "\u0436", "\u6211", "\U0001f600",
           "\U0001f999", "\u200d", "!", "?", ".", "(", ")", '"', "-", "_", "`", "$", "\u20ac", "\u001c", "\u00ad",
           "\u03a9", "\u01c5", "\u02b0"])
texts = ["".join(random.choice(pool) for _ in range(random.randint(0, 25))) for _ in range(400)]
rows = [json.dumps({"text": text,
                    "gpt2": gpt2.encode(text, add_special_tokens=False).ids,
                    "llama3": llama3.encode(text, add_special_tokens=False).ids,
                    "smollm2": smollm2.encode(text, add_special_tokens=False).ids}, ensure_ascii=False)
        for text in texts]
with open(os.path.join(out, "bpe-random-cases.json"), "w", encoding="utf-8") as f:
    f.write("[\n" + ",\n".join(rows) + "\n]\n")
print("wrote", out)
