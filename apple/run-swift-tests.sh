#!/usr/bin/env bash
# macOS: builds the XCFramework (debug profile, faster) and runs the XCTests against a reference
# server on loopback, like bindings/tests/run-kotlin.sh does on the JVM.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${PROFILE:-debug}" apple/build-xcframework.sh
source bindings/tests/common.sh
build_library
start_test_server
(cd apple && swift test)
