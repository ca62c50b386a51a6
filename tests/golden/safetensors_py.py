"""safetensors files with nothing but json and struct (Debian packages no
safetensors module), exactly per the format's specification:

    8 bytes   little-endian u64 N, the header's length
    N bytes   UTF-8 JSON {"name": {"dtype": "F32", "shape": [2, 3],
              "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}},
              padded with spaces
    the rest  the data buffer: each tensor contiguous, little-endian,
              row-major, at [begin, end) relative to the buffer's start

save() is an independent writer of the format for tapegrad's tests; load()
checks what tapegrad wrote as strictly as the reference reader does.
"""
import json
import struct
import sys

import torch

assert sys.byteorder == "little", "the format is little-endian; these helpers assume a little-endian host"

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "F16": torch.float16,
          "BF16": torch.bfloat16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


def _bytes(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what is stored
    return t.numpy().tobytes()


def save(path, tensors, metadata=None):
    """Write a dict of name -> tensor (and a dict of strings) to path."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        data = _bytes(t)
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the buffer starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def load(path):
    """(dict of name -> tensor, dict of metadata) from path; raises ValueError
    unless the file follows the specification exactly."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob) or blob[8:9] != b"{":
        raise ValueError(f"{path}: bad header length {n} or start")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"{path}: metadata must map strings to strings")
    buffer = blob[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{path}: tensor {name}: fields {sorted(info)}")
        dtype = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        numel = 1
        for size in info["shape"]:
            if not isinstance(size, int) or size < 0:
                raise ValueError(f"{path}: tensor {name}: bad shape {info['shape']}")
            numel *= size
        if not (0 <= begin <= end <= len(buffer)) or numel * torch.empty(0, dtype=dtype).element_size() != end - begin:
            raise ValueError(f"{path}: tensor {name}: data_offsets {info['data_offsets']} do not fit its shape and dtype")
        raw = bytearray(buffer[begin:end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"]).clone()
        spans.append((begin, end))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise ValueError(f"{path}: tensors overlap or leave a gap at buffer byte {covered}")
        covered = end
    if covered != len(buffer):
        raise ValueError(f"{path}: {len(buffer) - covered} bytes after the last tensor")
    return tensors, metadata
