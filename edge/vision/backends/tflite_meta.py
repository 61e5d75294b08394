"""Read the metadata entries of a ``.tflite`` file without TensorFlow.

A TFLite model is a FlatBuffer: ``Model.metadata`` (field 6) lists ``{name, buffer}`` and
``Model.buffers`` (field 4) holds the bytes. This minimal reader follows just those fields.
"""
from __future__ import annotations

import struct
from typing import Optional


def _table_field(buf: bytes, table: int, field_index: int) -> Optional[int]:
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_len = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * field_index
    if slot >= vt_len:
        return None
    off = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + off if off else None


def _deref(buf: bytes, pos: int) -> int:
    return pos + struct.unpack_from("<I", buf, pos)[0]


def _vector(buf: bytes, pos: int) -> tuple[int, int]:
    start = _deref(buf, pos)
    return start + 4, struct.unpack_from("<I", buf, start)[0]


def read_tflite_metadata(data: bytes) -> dict[str, bytes]:
    """{name: bytes} for every metadata entry; {} when there are none or the file is odd."""
    try:
        root = _deref(data, 0)
        meta_pos = _table_field(data, root, 6)
        buffers_pos = _table_field(data, root, 4)
        if meta_pos is None or buffers_pos is None:
            return {}
        meta_start, meta_n = _vector(data, meta_pos)
        buf_start, buf_n = _vector(data, buffers_pos)
        out: dict[str, bytes] = {}
        for i in range(meta_n):
            entry = _deref(data, meta_start + 4 * i)
            name_pos = _table_field(data, entry, 0)
            buf_idx_pos = _table_field(data, entry, 1)
            if name_pos is None or buf_idx_pos is None:
                continue
            s, n = _vector(data, name_pos)
            name = data[s:s + n].decode("utf-8", "replace")
            idx = struct.unpack_from("<I", data, buf_idx_pos)[0]
            if idx >= buf_n:
                continue
            buffer_table = _deref(data, buf_start + 4 * idx)
            data_pos = _table_field(data, buffer_table, 0)
            if data_pos is None:
                continue
            ds, dn = _vector(data, data_pos)
            out[name] = bytes(data[ds:ds + dn])
        return out
    except (struct.error, IndexError):
        return {}
