"""The ctypes structs of sutra/_ffi.py against include/sutra.h: each field's offset and each
struct's size, as a C compiler lays them out."""

import os
import shutil
import subprocess

import pytest

from sutra import _ffi
from conftest import SOURCE


def test_structs_match_the_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler to lay out include/sutra.h")
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include \"sutra.h\"", "int main(void) {"]
    for cname, st in _ffi.STRUCTS.items():
        lines.append(f'printf("{cname} %zu\\n", sizeof({cname}));')
        for field, _ in st._fields_:
            lines.append(f'printf("{cname}.{field} %zu\\n", offsetof({cname}, {field}));')
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", os.path.join(SOURCE, "include"), str(src), "-o", str(exe)], check=True)
    want = dict(line.rsplit(" ", 1) for line in subprocess.run([str(exe)], check=True, capture_output=True,
                                                                text=True).stdout.splitlines())
    for cname, st in _ffi.STRUCTS.items():
        assert int(want[cname]) == ctypes_size(st), f"sizeof({cname})"
        for field, _ in st._fields_:
            assert int(want[f"{cname}.{field}"]) == getattr(st, field).offset, f"{cname}.{field}"


def ctypes_size(st) -> int:
    import ctypes

    return ctypes.sizeof(st)
