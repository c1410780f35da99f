#!/usr/bin/env bash
# Installs what the test suites need on top of scripts/setup.sh (which it runs first).
# Idempotent; sourced by scripts/test.sh, or run on its own.
#
#   apt    libclang (camera build), sqlite3 (bulk-import benchmark), openssl (CMS interoperability),
#          a JDK, Maven, npm, python3 with venv, chromium (browser suite)
#   npm    kotlin-compiler 2.4.20 (ships kotlinx-coroutines) into .tools/kotlin; playwright-core
#          (tests/browser, `npm ci` from its lockfile)
#   Maven  JNA, JUnit, hamcrest-core into .tools/jars (`mvn dependency:copy`, sha256-checked)
#   pip    pytest, pillow (for bindings/tests/run-python.sh, which builds and installs the wheel
#          into its own venv); zeep (the independent SOAP client of server/tests/windows/peers.rs)
#   apt    libxml2-utils (xmllint) and curl for the same Windows checks
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

need_apt=()
# libclang for bindgen in the `camera` feature (nokhwa → V4L2 bindings), checked by test.sh
{ ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so >/dev/null 2>&1; } || need_apt+=(libclang-dev)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)  # only for the bulk-import benchmark
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # CMS interoperability tests
command -v xmllint >/dev/null 2>&1 || need_apt+=(libxml2-utils)  # Windows checks (customizations.xml)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)  # scripts/walkthrough.sh, Windows checks (OMA-DM with the client certificate)
# --- mobile bindings tests (bindings/tests/run-kotlin.sh, run-python.sh) ---
command -v java >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
# --- browser suite (tests/browser): Debian's chromium, driven headless by playwright-core ---
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# zeep for the Windows checks (server/tests/windows/peers.rs), into the user's python3.
python3 -c 'import zeep' >/dev/null 2>&1 || { echo "setup: installing zeep (pip)"; python3 -m pip install -q zeep==4.3.3; }

if [ ! -x .tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc ]; then
  echo "setup: installing kotlin-compiler 2.4.20 (npm) into .tools/kotlin"
  mkdir -p .tools/kotlin
  npm install --prefix .tools/kotlin --no-save --no-audit --no-fund --loglevel=error kotlin-compiler@2.4.20 >/dev/null
fi

# JVM test jars from Maven Central through Maven itself (its local repository ~/.m2 caches
# them; --strict-checksums fails on a repository checksum mismatch), then our own pinned sha256.
mkdir -p .tools/jars
while read -r sha artifact; do
  IFS=: read -r group name version <<<"$artifact"
  jar=".tools/jars/$name-$version.jar"
  if [ ! -f "$jar" ] || ! echo "$sha  $jar" | sha256sum -c --quiet - >/dev/null 2>&1; then
    echo "setup: fetching $artifact (mvn dependency:copy)"
    rm -f "$jar"
    mvn -B -q -ntp -Dstyle.color=never --strict-checksums \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="$group:$name:$version:jar" -DoutputDirectory=.tools/jars -Dmdep.overWriteReleases=true \
      || { echo "setup: mvn could not fetch $artifact" >&2; exit 1; }
    echo "$sha  $jar" | sha256sum -c --quiet - || { rm -f "$jar"; echo "setup: checksum mismatch for $artifact" >&2; exit 1; }
  fi
done <<'JARS'
b3a9408e7c51e08ef0e3bfcc08f443f6ec0f6191ba8cd7c18d53d2b22e5bdbc0 net.java.dev.jna:jna:5.17.0
8e495b634469d64fb8acfa3495a065cbacc8a0fff55ce1e31007be4c16dc57d3 junit:junit:4.13.2
66fdef91e9739348df7a096aa384a5685f4e875584cce89386a7a47251c4d8e9 org.hamcrest:hamcrest-core:1.3
JARS
python3 -m pytest --version >/dev/null 2>&1 || { echo "setup: installing pytest (pip)"; python3 -m pip install -q pytest; }
python3 -c 'import PIL' >/dev/null 2>&1 || { echo "setup: installing pillow (pip)"; python3 -m pip install -q pillow; }

# playwright-core for the browser suite, pinned by tests/browser/package-lock.json (npm ci);
# it drives the system chromium and downloads no browser of its own.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "setup: installing playwright-core (npm ci) into tests/browser"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null
fi
