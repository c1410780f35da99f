#!/usr/bin/env python3
"""Builds a wheel of the Python bindings from a built library and its generated module.

    python3 bindings/python/build_wheel.py --library target/debug/libenroll_ffi.so \\
        --module target/bindings/python/enroll_ffi.py --out-dir target/wheels

The wheel holds one package, `enroll_ffi`: the generated module as its `__init__.py` (uniffi's
module loads the library from its own folder) and the library beside it, so
`import enroll_ffi as ffi` works as with the generated file. It is tagged
`py3-none-<platform>` (the library is native code, the module plain Python) and has the METADATA, WHEEL and RECORD files of the wheel format (PEP 427, sha256 per file), so
pip installs, lists and uninstalls it like any other. Only the standard library is used: no
second Rust build (the library built for the tests is the one packaged). The version is the
workspace version from Cargo.toml.
"""

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile

NAME = "enroll_ffi"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def workspace_version():
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def platform_tag():
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def read_library(library, strip_debug):
    """The library's bytes; with `strip_debug`, without its debug info (`strip --strip-debug`:
    the exported symbols the module calls stay)."""
    if not strip_debug:
        with open(library, "rb") as f:
            return f.read()
    strip = shutil.which("strip")
    if strip is None:
        raise SystemExit("--strip-debug needs `strip` (binutils) on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, os.path.basename(library))
        subprocess.run([strip, "--strip-debug", "-o", out, library], check=True)
        with open(out, "rb") as f:
            return f.read()


def build(library, module, out_dir, version, strip_debug=False):
    tag = f"py3-none-{platform_tag()}"
    dist_info = f"{NAME}-{version}.dist-info"
    with open(module, "rb") as f:
        init = f.read()
    lib = read_library(library, strip_debug)
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {version}\n"
        "Summary: Python bindings (uniffi) of enroll-core, the device side of MDM enrollment\n"
    ).encode()
    wheel = (
        "Wheel-Version: 1.0\n"
        "Generator: enroll bindings/python/build_wheel.py\n"
        "Root-Is-Purelib: false\n"
        f"Tag: {tag}\n"
    ).encode()
    files = [
        (f"{NAME}/__init__.py", init, 0o644),
        (f"{NAME}/{os.path.basename(library)}", lib, 0o755),
        (f"{dist_info}/METADATA", metadata, 0o644),
        (f"{dist_info}/WHEEL", wheel, 0o644),
    ]
    record = "\n".join([record_line(p, d) for p, d, _ in files] + [f"{dist_info}/RECORD,,", ""])
    files.append((f"{dist_info}/RECORD", record.encode(), 0o644))

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{NAME}-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data, mode in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(info, data)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True, help="the built libenroll_ffi the module was generated from")
    parser.add_argument("--module", required=True, help="the generated enroll_ffi.py")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--version", default=None, help="default: the workspace version")
    parser.add_argument("--strip-debug", action="store_true", help="package the library without its debug info (a debug build is ~200 MB with it)")
    args = parser.parse_args()
    print(build(args.library, args.module, args.out_dir, args.version or workspace_version(), args.strip_debug))


if __name__ == "__main__":
    sys.exit(main())
