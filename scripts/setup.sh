#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing enroll. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# libclang for bindgen in the `camera` feature (nokhwa → V4L2 bindings), checked by test.sh
{ ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so >/dev/null 2>&1; } || need_apt+=(libclang-dev)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)  # only for the bulk-import benchmark
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # CMS interoperability tests
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: Rust is missing; install it with rustup (https://rustup.rs) and run again" >&2
    exit 1
  fi
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# --- mobile bindings tests (bindings/tests/run-kotlin.sh, run-python.sh) ---
# kotlinc (npm package kotlin-compiler, which also ships kotlinx-coroutines) and the JVM test
# jars (Maven Central) go into .tools/ (gitignored); each is fetched only when missing.
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if [ ! -x .tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc ]; then
  echo "setup: installing kotlin-compiler 2.4.20 (npm) into .tools/kotlin"
  mkdir -p .tools/kotlin
  npm install --prefix .tools/kotlin --no-save --no-audit --no-fund --loglevel=error kotlin-compiler@2.4.20 >/dev/null
fi
mkdir -p .tools/jars
while read -r sha path; do
  jar=".tools/jars/${path##*/}"
  if [ ! -f "$jar" ] || ! echo "$sha  $jar" | sha256sum -c --quiet - >/dev/null 2>&1; then
    echo "setup: fetching ${path##*/} (Maven Central)"
    curl -fsSL --retry 3 -o "$jar.part" "https://repo1.maven.org/maven2/$path"
    echo "$sha  $jar.part" | sha256sum -c --quiet - || { rm -f "$jar.part"; echo "setup: checksum mismatch for $path" >&2; exit 1; }
    mv "$jar.part" "$jar"
  fi
done <<'JARS'
b3a9408e7c51e08ef0e3bfcc08f443f6ec0f6191ba8cd7c18d53d2b22e5bdbc0 net/java/dev/jna/jna/5.17.0/jna-5.17.0.jar
8e495b634469d64fb8acfa3495a065cbacc8a0fff55ce1e31007be4c16dc57d3 junit/junit/4.13.2/junit-4.13.2.jar
66fdef91e9739348df7a096aa384a5685f4e875584cce89386a7a47251c4d8e9 org/hamcrest/hamcrest-core/1.3/hamcrest-core-1.3.jar
JARS
python3 -m pytest --version >/dev/null 2>&1 || { echo "setup: installing pytest (pip)"; python3 -m pip install -q pytest; }
python3 -c 'import PIL' >/dev/null 2>&1 || { echo "setup: installing pillow (pip)"; python3 -m pip install -q pillow; }
