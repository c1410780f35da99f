#!/usr/bin/env bash
# Python bindings: builds the debug library, generates the `enroll_ffi` module, packages both
# as a wheel (bindings/python/build_wheel.py → target/wheels/), pip-installs the wheel into a
# fresh venv (target/bindings/venv) and runs the pytest suite with that venv's Python against a
# reference server on loopback: the tests import the installed package, not the build folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bindings/tests/common.sh

build_library
generate python
WHEEL="$(python3 bindings/python/build_wheel.py --library "$LIB_FILE" \
  --module "$BINDINGS_DIR/python/enroll_ffi.py" --out-dir "$TARGET_DIR/wheels" --strip-debug)"
echo "built $WHEEL"

# The venv sees the system's pytest and pillow (scripts/setup-tests.sh installs them); the
# bindings come only from the wheel.
case "$BINDINGS_DIR" in /*) VENV="$BINDINGS_DIR/venv" ;; *) VENV="$PWD/$BINDINGS_DIR/venv" ;; esac
rm -rf "$VENV"
python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -m pip install -q --no-index --no-deps --disable-pip-version-check "$WHEEL"
INSTALLED="$(cd / && "$VENV/bin/python" -c 'import enroll_ffi, os; print(os.path.dirname(enroll_ffi.__file__))')"
case "$INSTALLED" in
  "$VENV"/*) echo "enroll_ffi installed in $INSTALLED" ;;
  *) echo "enroll_ffi was imported from $INSTALLED, not from the venv" >&2; exit 1 ;;
esac

start_test_server
"$VENV/bin/python" -m pytest -q -p no:cacheprovider bindings/tests/python
