// Coroutine-friendly helpers over the generated bindings (package io.github.enroll).
//
// Platform-neutral: nothing here touches android.*, so this file compiles and is tested on the
// host JVM (bindings/tests/run-kotlin.sh) exactly as it ships in the AAR.
package io.github.enroll.client

import io.github.enroll.Clock
import io.github.enroll.ClientConfig
import io.github.enroll.Credential
import io.github.enroll.DeviceInfo
import io.github.enroll.EnrollClient
import io.github.enroll.EnrollmentObserver
import io.github.enroll.EnrollmentState
import io.github.enroll.LogRecord
import io.github.enroll.LogSink
import io.github.enroll.ProfileInstaller
import io.github.enroll.SecureStore
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext

/**
 * Creates an [EnrollClient] on [dispatcher] (default [Dispatchers.IO]): the constructor reads the
 * persisted state through [store] and so must not run on the main thread.
 *
 * @throws io.github.enroll.EnrollException.InvalidInput for a malformed CA certificate or pin.
 * @throws io.github.enroll.EnrollException.Platform when the store fails or its state is unreadable.
 */
suspend fun openEnrollClient(
    config: ClientConfig,
    store: SecureStore,
    installer: ProfileInstaller,
    device: DeviceInfo,
    clock: Clock? = null,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
): EnrollClient = withContext(dispatcher) { EnrollClient(config, store, installer, device, clock) }

/**
 * The enrollment state as a cold [Flow]: the current state first, then every change.
 *
 * Collecting starts an observation ([EnrollClient.observe]); when the collector is cancelled the
 * observation's [io.github.enroll.TaskHandle] is cancelled and closed. States arrive from a
 * library thread and are buffered without limit (there are only a handful per enrollment), so
 * the library thread never waits for the collector; collect on any dispatcher.
 */
fun EnrollClient.states(): Flow<EnrollmentState> =
    callbackFlow {
        val handle =
            observe(
                object : EnrollmentObserver {
                    override fun onState(state: EnrollmentState) {
                        trySend(state)
                    }
                },
            )
        awaitClose {
            handle.cancel()
            handle.close()
        }
    }.buffer(Channel.UNLIMITED)

/**
 * [EnrollClient.enroll], but cancelling the calling coroutine also cancels the enrollment in
 * the library ([EnrollClient.cancel]: the server deactivates MDM for the device). uniffi does
 * not carry coroutine cancellation into Rust by itself.
 */
suspend fun EnrollClient.enrollCancellable(
    serverUrl: String,
    credential: Credential,
): EnrollmentState = cancelOnCancellation { enroll(serverUrl, credential) }

/** [EnrollClient.resume] with the cancellation behaviour of [enrollCancellable]. */
suspend fun EnrollClient.resumeCancellable(): EnrollmentState = cancelOnCancellation { resume() }

private suspend fun <T> EnrollClient.cancelOnCancellation(block: suspend () -> T): T =
    try {
        block()
    } catch (e: CancellationException) {
        withContext(NonCancellable) { runCatching { cancel() } }
        throw e
    }

/**
 * A [LogSink] from a lambda, for [io.github.enroll.PlatformConfig.logSink]. [block] runs on the
 * library thread that logged: keep it short and non-blocking.
 */
fun logSink(block: (LogRecord) -> Unit): LogSink =
    object : LogSink {
        override fun log(record: LogRecord) = block(record)
    }
