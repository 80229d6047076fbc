#!/usr/bin/python3
"""Writes tests/fixtures/samples/tokens.json: ids of the shipped model's tokenizer (samples/model,
vocab.json + merges.txt) computed by samples/tinyclip.py's Python implementation of the OpenAI
SimpleTokenizer algorithm.  tests/c/test_sample_model.c checks that engine/text/tokenizer.c gives the same.

    /usr/bin/python3 tests/reference/sample_tokens.py
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "samples"))
import tinyclip as tc  # noqa: E402

TEXTS = [
    "a photo of a red circle",
    "a photo of a blue star and a green cross",
    "A  Photo of a WHITE ring.",
    "a photo of a purple triangle, an orange square and a yellow star",
    "a photo of a star",
    "a photo of a cat",
    "two 3d squares!!",
    "it's a red-ish ring",
    "",
    "naïve café ☺",
]

tok = tc.Tokenizer.load(os.path.join(ROOT, "samples", "model"))
out = [{"text": t, "ids": tok.encode(t)} for t in TEXTS]
path = os.path.join(ROOT, "tests", "fixtures", "samples", "tokens.json")
with open(path, "w") as f:
    json.dump({"sot": tok.sot, "eot": tok.eot, "vocab_size": len(tok.encoder), "cases": out}, f,
              ensure_ascii=False, indent=1)
