"""Minimal safetensors writer/reader without the `safetensors` package.

Usage (run with /usr/bin/python3, Debian python3-torch):

    from st_io import save_safetensors, load_safetensors
    save_safetensors("model.safetensors", {"w": torch.randn(3, 4)}, dtype="F16",
                     metadata={"format": "pt"})
    tensors = load_safetensors("model.safetensors")   # dict name -> torch.float32 tensor (widened)
    raw = load_safetensors("model.safetensors", widen=False)   # keeps F16/BF16/I64 dtypes

Layout (huggingface/safetensors README "Format"): u64 little-endian header length N, then N bytes of
UTF-8 JSON padded with spaces to a multiple of 8, then the tensor data, contiguous, no holes, in the
order of the header entries (sorted by name here).  `dtype` converts floating tensors on write
("F32", "F16", "BF16"); integer tensors (e.g. I64 position_ids) keep their dtype.
"""
import json
import struct

import numpy as np
import torch

_TORCH_TO_ST = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.float64: "F64"}
_ST_TO_TORCH = {v: k for k, v in _TORCH_TO_ST.items()}
_ST_TO_TORCH_NAME = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}


def _tensor_bytes(t):
    """Raw little-endian bytes of a contiguous CPU tensor (bfloat16 via its int16 view)."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save_safetensors(path, tensors, dtype="F32", metadata=None):
    """Writes `tensors` (dict name -> tensor) to `path`; floating tensors are stored as `dtype`."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point():
            t = t.to(_ST_TO_TORCH_NAME[dtype])
        b = _tensor_bytes(t)
        header[name] = {"dtype": _TORCH_TO_ST[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path, widen=True):
    """Reads a safetensors file into a dict name -> tensor; widen=True converts F16/BF16 to F32."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = info["dtype"]
        raw = data[base + b:base + e]
        if dt == "BF16":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16)
        else:
            npdt = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                    "U8": np.uint8, "F64": np.float64}[dt]
            t = torch.from_numpy(np.frombuffer(raw, dtype=npdt).copy())
        t = t.reshape(info["shape"])
        if widen and t.is_floating_point():
            t = t.float()
        out[name] = t
    return out
