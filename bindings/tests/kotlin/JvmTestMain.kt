// Runs JUnit 4 test classes on the host JVM and prints "N passed, N failed, N skipped".
// Used by bindings/tests/run-kotlin.sh, where there is no Gradle.
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val core = JUnitCore()
    val failed = mutableSetOf<Description>()
    core.addListener(
        object : RunListener() {
            override fun testFailure(failure: Failure) {
                failed += failure.description
                println("FAIL ${failure.description.methodName}: ${failure.message}")
                println(failure.trace.lines().take(25).joinToString("\n"))
            }

            override fun testAssumptionFailure(failure: Failure) {
                println("SKIP ${failure.description.methodName}: ${failure.message}")
            }

            override fun testFinished(description: Description) {
                if (description !in failed) println("ok   ${description.methodName}")
            }
        },
    )
    val result = core.run(*args.map { Class.forName(it) }.toTypedArray())
    val skipped = result.assumptionFailureCount + result.ignoreCount
    val failures = result.failureCount
    val passed = result.runCount - failures - result.assumptionFailureCount
    println("$passed passed, $failures failed, $skipped skipped")
    exitProcess(if (failures == 0 && passed > 0) 0 else 1)
}
