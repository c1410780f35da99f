// Host-JVM tests of the Kotlin bindings against the reference server (TLS on loopback).
//
// Run by bindings/tests/run-kotlin.sh (kotlinc + JUnit 4, no Gradle) and by Gradle's
// `testDebugUnitTest` in android/. The environment names the server and the credentials the
// script provisioned: ENROLL_TEST_SERVER, ENROLL_TEST_CA, ENROLL_TEST_TOKEN, ENROLL_TEST_PIN_USER,
// ENROLL_TEST_PIN_URL, ENROLL_TEST_PIN, ENROLL_TEST_WRONG_PIN_USER, ENROLL_TEST_WRONG_PIN_URL,
// ENROLL_TEST_WRONG_PIN_REAL and, optionally, ENROLL_TEST_QR_DIR (the shared QR corpus).
package io.github.enroll

import io.github.enroll.client.enrollCancellable
import io.github.enroll.client.logSink
import io.github.enroll.client.openEnrollClient
import io.github.enroll.client.states
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assume.assumeTrue
import org.junit.BeforeClass
import org.junit.Test
import java.io.File
import java.util.Collections
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger
import javax.imageio.ImageIO
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/** A Kotlin [SecureStore] over a map: the library calls it from Rust. */
class MemorySecureStore : SecureStore {
    val map = ConcurrentHashMap<String, ByteArray>()
    val calls = AtomicInteger()
    @Volatile var failWith: Exception? = null

    override fun get(key: String): ByteArray? {
        calls.incrementAndGet()
        return map[key]
    }

    override fun set(key: String, value: ByteArray) {
        calls.incrementAndGet()
        failWith?.let { throw it }
        map[key] = value
    }

    override fun delete(key: String) {
        calls.incrementAndGet()
        map.remove(key)
    }
}

/** Installs by remembering the profile. */
class RecordingInstaller : ProfileInstaller {
    val installed: MutableList<ProfileToInstall> = Collections.synchronizedList(mutableListOf())
    val threads: MutableSet<String> = Collections.synchronizedSet(mutableSetOf())

    override fun install(profile: ProfileToInstall): InstallOutcome {
        threads += Thread.currentThread().name
        installed += profile
        return InstallOutcome.INSTALLED
    }

    override fun isInstalled(uuid: String): Boolean = installed.any { it.uuid == uuid }

    override fun remove(identifier: String) {
        installed.removeAll { it.identifier == identifier }
    }
}

/** A fixed Android device with its own identifier. */
class FixedDevice(private val id: String) : DeviceInfo {
    override fun describe() =
        DeviceDescriptor(
            platform = DevicePlatform.ANDROID,
            osVersion = "14",
            model = "Pixel 8",
            manufacturer = "Google",
            serial = "SER-$id",
            hardwareId = id,
            agentVersion = "jvm-test",
        )
}

class EnrollClientJvmTest {
    companion object {
        private val logs: MutableList<LogRecord> = Collections.synchronizedList(mutableListOf())

        private fun env(name: String): String = System.getenv(name) ?: error("$name is not set (run bindings/tests/run-kotlin.sh)")

        @BeforeClass
        @JvmStatic
        fun initLibrary() {
            initPlatform(PlatformConfig(logLevel = LogLevel.INFO, logSink = logSink { logs += it }))
        }
    }

    private val server = env("ENROLL_TEST_SERVER")
    private val config = ClientConfig(caCertificates = listOf(File(env("ENROLL_TEST_CA")).readBytes()))

    private fun newClient(
        name: String,
        store: SecureStore = MemorySecureStore(),
        installer: ProfileInstaller = RecordingInstaller(),
    ) = runBlocking { openEnrollClient(config, store, installer, FixedDevice("jvm-$name-${System.nanoTime()}")) }

    @Test
    fun tokenEnrollmentReachesActiveThroughKotlinStoreAndFlow() =
        runBlocking {
            val store = MemorySecureStore()
            val installer = RecordingInstaller()
            val client = newClient("token", store, installer)
            // Collect states until Active, concurrently with the enrollment (started once the
            // collector has its first state).
            val subscribed = CompletableDeferred<Unit>()
            val seen =
                async(Dispatchers.Default) {
                    client.states().onEach { subscribed.complete(Unit) }.takeWhile { it !is EnrollmentState.Active }.toList()
                }
            withTimeout(10_000) { subscribed.await() }
            val state = client.enrollCancellable(server, Credential.token(env("ENROLL_TEST_TOKEN")))
            assertTrue(state is EnrollmentState.Active, "state: $state")
            val before = withTimeout(10_000) { seen.await() }
            assertEquals(EnrollmentState.Idle, before.first(), "the flow emits the current state first: $before")
            assertTrue(before.any { it is EnrollmentState.Discovered }, "states: $before")
            assertEquals(state, withTimeout(10_000) { client.states().first() })

            // Rust persisted through the Kotlin store and installed through the Kotlin installer.
            assertTrue(store.map.containsKey("enroll.state.v1"))
            assertTrue(store.calls.get() >= 5, "store calls: ${store.calls.get()}")
            assertEquals(1, installer.installed.size)
            assertFalse(installer.threads.any { it == "main" }, "installer ran on ${installer.threads}")

            val checkin = client.checkin(mapOf("battery" to "80"))
            assertEquals(DeviceState.ACTIVE, checkin.deviceState)
            assertEquals(null, checkin.applied)

            // An active device cannot enroll again; forgetting clears the store.
            assertFailsWith<EnrollException.NotAllowedNow> { client.enroll(server, Credential.token(env("ENROLL_TEST_TOKEN"))) }
            client.forget()
            assertEquals(EnrollmentState.Idle, client.status())
            assertFalse(store.map.containsKey("enroll.state.v1"))
            client.close()
        }

    @Test
    fun pinEnrollmentReachesActive() =
        runBlocking {
            val user = env("ENROLL_TEST_PIN_USER")
            val client = newClient("pin")
            val state = client.enroll(env("ENROLL_TEST_PIN_URL"), Credential.pin(user, env("ENROLL_TEST_PIN")))
            val active = state as? EnrollmentState.Active ?: error("not active: $state")
            assertEquals(user, active.user)
            assertTrue(enrollmentStateIsSettled(state))
            client.close()
        }

    @Test
    fun wrongPinIsATypedErrorWithAttemptsLeft() =
        runBlocking {
            val real = env("ENROLL_TEST_WRONG_PIN_REAL")
            val wrong = if (real == "000000") "111111" else "000000"
            val client = newClient("wrong-pin")
            val error =
                assertFailsWith<EnrollException.WrongCredentials> {
                    client.enroll(env("ENROLL_TEST_WRONG_PIN_URL"), Credential.pin(env("ENROLL_TEST_WRONG_PIN_USER"), wrong))
                }
            assertEquals(4u, error.attemptsLeft)
            assertFalse(error.message.contains(wrong))
            assertTrue(client.status() is EnrollmentState.Failed, "status: ${client.status()}")
            client.close()
        }

    @Test
    fun invalidInputIsTypedAndNeverQuotesTheSecret() {
        val e = assertFailsWith<EnrollException.InvalidInput> { Credential.pin("user@example.com", "12x4") }
        assertFalse(e.detail.contains("12x4"))
        assertFailsWith<EnrollException.InvalidInput> { Credential.token("   ") }
        val token = Credential.token("ent_SECRET_TOKEN_VALUE")
        assertFalse(token.toString().contains("SECRET"), token.toString())
        assertEquals("token", token.kind())
        assertFailsWith<EnrollException.InvalidInput> {
            EnrollClient(ClientConfig(caCertificates = listOf("not a certificate".toByteArray())), MemorySecureStore(), RecordingInstaller(), FixedDevice("x"))
        }
    }

    @Test
    fun storeFailuresMapToPlatformErrors() =
        runBlocking {
            val store = MemorySecureStore()
            val client = newClient("locked", store)
            store.failWith = PlatformException.Denied("keystore locked")
            val denied = assertFailsWith<EnrollException.Platform> { client.enroll(server, Credential.token("ent_any_token_1234")) }
            assertEquals(PlatformErrorKind.DENIED, denied.kind)
            // Any other Kotlin exception arrives as an unexpected callback error.
            store.failWith = IllegalStateException("disk full")
            val other = assertFailsWith<EnrollException.Platform> { client.enroll(server, Credential.token("ent_any_token_1234")) }
            assertEquals(PlatformErrorKind.OTHER, other.kind)
            assertEquals(EnrollmentState.Idle, client.status())
            client.close()
        }

    @Test
    fun logsReachTheKotlinSinkWithoutSecrets() {
        val token = env("ENROLL_TEST_TOKEN")
        val pin = env("ENROLL_TEST_PIN")
        val snapshot = synchronized(logs) { logs.toList() }
        assertTrue(snapshot.any { it.message.contains("enroll-ffi initialised") }, "logs: ${snapshot.take(5)}")
        assertTrue(snapshot.none { it.message.contains(token) || it.message.contains(pin) })
        assertFailsWith<EnrollException.NotAllowedNow> { initPlatform(PlatformConfig()) }
    }

    @Test
    fun scanningFramesFromTheCamera() {
        val blank = ByteArray(64 * 48) { 0xFF.toByte() }
        assertTrue(scanFrame(blank, 64u, 48u, 64u).isEmpty())
        assertFailsWith<EnrollException.InvalidInput> { scanFrame(blank, 64u, 48u, 32u) }
        val session = QrScanSession()
        assertEquals(null, session.feed(blank, 64u, 48u, 64u))
        assertEquals(1uL, session.framesScanned())

        val dir = System.getenv("ENROLL_TEST_QR_DIR")
        assumeTrue("the shared QR corpus is not beside the repository", dir != null)
        val image = ImageIO.read(File(dir, "enroll-0034.jpg"))
        val (w, h) = image.width to image.height
        val luma = ByteArray(w * h)
        val raster = image.raster
        for (y in 0 until h) for (x in 0 until w) luma[y * w + x] = raster.getSample(x, y, 0).toByte()
        val result = assertNotNull(session.feed(luma, w.toUInt(), h.toUInt(), w.toUInt()))
        val intent = result.intent as? ScannedIntent.Invitation ?: error("not an invitation: ${result.intent}")
        assertEquals("globex-6746", intent.tenant)
        assertEquals("token", result.credential?.kind())
        assertEquals(result.serverUrl, intent.serverUrl)
        assertFalse(result.toString().contains("1Ds7bXri7YZa"), result.toString())
        assertTrue(session.isFinished())
    }
}
