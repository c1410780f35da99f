#!/usr/bin/env bash
# Kotlin bindings on the host JVM, without Gradle: builds the debug library, generates the
# Kotlin bindings, compiles them with the platform-neutral wrapper (android/src/main/kotlin/
# io/github/enroll/client) and the JUnit tests (android/src/test/kotlin) with kotlinc, and runs
# the tests against a reference server on loopback. Prints "N passed, N failed, N skipped".
# The docs' host-compilable Kotlin snippets (docs/bindings.md, `<!-- kotlin-host -->`) are
# compiled with them.
# Needs what scripts/setup-tests.sh installs into .tools/.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bindings/tests/common.sh

KOTLIN_HOME=.tools/kotlin/node_modules/kotlin-compiler
JARS=.tools/jars
for f in "$KOTLIN_HOME/bin/kotlinc" "$JARS/jna-5.17.0.jar" "$JARS/junit-4.13.2.jar" "$JARS/hamcrest-core-1.3.jar"; do
  [ -e "$f" ] || { echo "missing $f: run scripts/setup-tests.sh" >&2; exit 1; }
done

build_library
generate kotlin

# The Kotlin blocks of docs/bindings.md marked `<!-- kotlin-host -->`, compiled as written: each
# becomes the body of a function whose parameters are the app's own names the docs list.
SNIPPETS="$BINDINGS_DIR/DocSnippets.kt"
{
  echo "package docsnippets"
  echo "import io.github.enroll.*"
  echo "import io.github.enroll.client.*"
  echo "class Barcode(val rawValue: String?)"
  awk 'BEGIN{n=0} /<!-- kotlin-host/{want=1; next}
       want && /^```kotlin$/{n++; print "suspend fun snippet" n "(barcode: Barcode, client: EnrollClient, userHint: String, askPin: () -> String, configuredServer: String, token: String) {"; code=1; want=0; next}
       code && /^```$/{print "}"; code=0; next}
       code{print "    " $0}' docs/bindings.md
} >"$SNIPPETS"
grep -q "^suspend fun snippet" "$SNIPPETS" || { echo "no kotlin-host blocks found in docs/bindings.md" >&2; exit 1; }

CP="$JARS/jna-5.17.0.jar:$JARS/junit-4.13.2.jar:$JARS/hamcrest-core-1.3.jar"
CP="$CP:$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar:$KOTLIN_HOME/lib/kotlin-test.jar:$KOTLIN_HOME/lib/kotlin-test-junit.jar"
OUT="$BINDINGS_DIR/kotlin-tests.jar"
echo "compiling Kotlin (generated bindings + wrapper + tests) …"
"$KOTLIN_HOME/bin/kotlinc" -jvm-target 17 -nowarn -cp "$CP" -d "$OUT" \
  "$BINDINGS_DIR/kotlin/io/github/enroll/enroll_ffi.kt" \
  android/src/main/kotlin/io/github/enroll/client/*.kt \
  android/src/test/kotlin/io/github/enroll/*.kt \
  bindings/tests/kotlin/JvmTestMain.kt \
  "$SNIPPETS"

start_test_server
java -Djna.library.path="$(dirname "$LIB_FILE")" \
  -cp "$OUT:$CP:$KOTLIN_HOME/lib/kotlin-stdlib.jar" \
  JvmTestMainKt io.github.enroll.EnrollClientJvmTest io.github.enroll.PayloadJvmTest
