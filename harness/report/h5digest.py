"""The content digest of dint's HDF5 files, checked from Python before a reader uses a file.

Every file dint writes carries the root attribute `digest` ("crc32:" and 8 hex digits): the
CRC-32 (zlib) of every group name, dataset (name, shape, bytes in the file's byte order) and
attribute (the same; variable-length strings as their characters) in name order, itself
excluded (harness/store/h5file.h). This module computes the same sum with h5py, so the plots and
reports refuse a file that was changed after it was written, as every dint command does.

    from h5digest import open_verified
    with open_verified("results/dint.h5") as f: ...

tests/test_schema.py checks that this and the C code agree on real files.
"""
import contextlib
import struct
import sys
import zlib

import h5py
import numpy as np
from h5py import h5s, h5t

DIGEST_ATTR = "digest"


class DigestMismatch(ValueError):
    """The file's contents do not match its stored digest."""


def _u64(n):
    return struct.pack("<Q", n)


def _header(crc, kind, name, shape):
    name_bytes = name.encode()
    crc = zlib.crc32(kind + _u64(len(name_bytes)) + name_bytes, crc)
    if shape is None:
        return crc
    crc = zlib.crc32(struct.pack("<q", len(shape)), crc)
    for d in shape:
        crc = zlib.crc32(_u64(d), crc)
    return crc


def _values(crc, obj_id, ftype, shape, read):
    """Add the values of a dataset or attribute (read(arr, mtype) fills arr)."""
    if ftype.get_class() == h5t.STRING and ftype.is_variable_str():
        n = int(np.prod(shape)) if shape else 1
        if n == 0:
            return crc
        mtype = h5t.string_dtype(encoding="utf-8")
        arr = np.empty(shape, dtype=mtype)
        read(arr, h5t.py_create(mtype))
        for s in arr.reshape(-1):
            if s is None:
                crc = zlib.crc32(b"\xff" * 8, crc)
                continue
            b = s if isinstance(s, bytes) else str(s).encode()
            b = b.split(b"\0", 1)[0]  # C reads up to the terminating NUL
            crc = zlib.crc32(_u64(len(b)) + b, crc)
        return crc
    if ftype.detect_class(h5t.VLEN):
        return crc  # other variable-length data (never written by dint): only its shape
    n = int(np.prod(shape)) if shape else 1
    if n == 0:
        return crc
    # The file's own representation; zeros first, as in C (calloc): a compound's padding is not
    # written by the read.
    arr = np.zeros(shape, dtype=np.dtype(("V", ftype.get_size())))
    read(arr, ftype)
    return zlib.crc32(arr.tobytes(), crc)


def _attrs(crc, obj, where, found):
    for name in sorted(obj.attrs.keys(), key=lambda s: s.encode()):
        aid = h5py.h5a.open(obj.id, name.encode())
        if where == "/" and name == DIGEST_ATTR:
            found["stored"] = obj.attrs[name]
            continue
        full = f"{where}@{name}"
        shape = aid.shape
        crc = _header(crc, b"a", full, shape)
        crc = _values(crc, aid, aid.get_type(), shape, lambda arr, mt: aid.read(arr, mtype=mt))
    return crc


def _walk(crc, group, prefix, found):
    for name in sorted(group.keys(), key=lambda s: s.encode()):
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        obj = group[name]
        path = f"{prefix}/{name}" if prefix else f"/{name}"
        if isinstance(obj, h5py.Dataset):
            did = obj.id
            shape = did.shape
            crc = _header(crc, b"d", path, shape)
            crc = _values(crc, did, did.get_type(), shape,
                          lambda arr, mt: did.read(h5s.ALL, h5s.ALL, arr, mtype=mt))
            crc = _attrs(crc, obj, path, found)
        else:
            crc = _header(crc, b"g", path, None)
            crc = _attrs(crc, obj, path, found)
            crc = _walk(crc, obj, path, found)
    return crc


def digest(f):
    """(computed, stored) of an open h5py.File: the CRC-32 as an int, the stored text or None."""
    found = {"stored": None}
    crc = _attrs(0, f, "/", found)
    crc = _walk(crc, f, "", found)
    stored = found["stored"]
    if isinstance(stored, bytes):
        stored = stored.decode()
    return crc & 0xFFFFFFFF, stored


def verify(path, f=None):
    """Raise DigestMismatch when the file's contents do not match its digest; a dint file without
    one (written before digests) is read with a one-line notice on stderr, as dint does."""
    own = f is None
    if own:
        f = h5py.File(path, "r")
    try:
        computed, stored = digest(f)
        by_dint = any(k in f.attrs for k in ("schema_version", "run", "baseline"))
    finally:
        if own:
            f.close()
    if stored is None and not by_dint:
        return  # another program's file: nothing to verify beyond HDF5's own checksums
    if stored is None:
        print(f"notice: '{path}' has no content digest (written before dint-bench stored one): "
              "only the HDF5 checksums of its data are verified", file=sys.stderr)
        return
    if stored != f"crc32:{computed:08x}":
        raise DigestMismatch(f"'{path}' is corrupt: its contents do not match its digest "
                             f"(CRC-32 stored {stored[6:]}, computed {computed:08x}): it was "
                             "changed after it was written")


def open_verified(path, mode="r"):
    """h5py.File(path) after verify(path)."""
    f = h5py.File(path, mode)
    try:
        verify(path, f)
    except Exception:
        f.close()
        raise
    return f


@contextlib.contextmanager
def edit_stamped(path):
    """h5py.File(path, "a") whose digest is written anew when the block ends: for tests that make
    or change files as dint would write them (any other change is refused as damage)."""
    with h5py.File(path, "a") as f:
        yield f
        if DIGEST_ATTR in f.attrs:
            del f.attrs[DIGEST_ATTR]
        computed, _ = digest(f)
        f.attrs[DIGEST_ATTR] = f"crc32:{computed:08x}"
