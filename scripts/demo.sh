#!/usr/bin/env bash
# README's main command: builds the CLI and enrolls this machine (as a simulated device)
# against the embedded reference server on loopback, printing every step.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build -q -p enroll-cli --bin enroll
exec ./target/debug/enroll demo "$@"
