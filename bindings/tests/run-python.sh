#!/usr/bin/env bash
# Python bindings: builds the debug library, generates the `enroll_ffi` module (with the
# library beside it) and runs the pytest suite against a reference server on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bindings/tests/common.sh

build_library
generate python
cp "$LIB_FILE" "$BINDINGS_DIR/python/"

start_test_server
PYTHONPATH="$BINDINGS_DIR/python" python3 -m pytest -q -p no:cacheprovider bindings/tests/python
