// Host-JVM tests of payload parsing from text (a QR code decoded by ML Kit) and from an Android
// admin extras bundle, hostile input included, and of the profile's text form. Run by
// bindings/tests/run-kotlin.sh after EnrollClientJvmTest (which initialises the library); the
// enrollment test needs ENROLL_TEST_SERVER, ENROLL_TEST_CA and ENROLL_TEST_DPC_TOKEN.
package io.github.enroll

import io.github.enroll.client.adminExtrasOf
import io.github.enroll.client.openEnrollClient
import kotlinx.coroutines.runBlocking
import org.junit.Test
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class PayloadJvmTest {
    private val secret = "SECRETTOKEN1234567890"

    private fun env(name: String): String = System.getenv(name) ?: error("$name is not set (run bindings/tests/run-kotlin.sh)")

    /** Asserts InvalidInput, whose message does not quote [secret]. */
    private fun assertInvalid(block: () -> Unit) {
        val e = assertFailsWith<EnrollException.InvalidInput> { block() }
        assertFalse(e.detail.contains(secret) || e.message.orEmpty().contains(secret), e.detail)
    }

    @Test
    fun decodedTextParsesIntoTheScannerIntents() {
        val p = parseEnrollmentPayload("https://mdm.example.com/go?token=$secret&user=a%40b.c&tenant=t1\n")
        assertFalse(p.toString().contains(secret), p.toString())
        assertEquals("https://mdm.example.com", p.serverUrl)
        assertEquals("token", p.credential?.kind())
        val invitation = p.intent as? ScannedIntent.Invitation ?: error("not an invitation: ${p.intent}")
        assertEquals("t1", invitation.tenant)
        assertEquals("a@b.c", invitation.userHint)

        val android =
            """{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME": "com.example.dpc/.AdminReceiver",
               "android.app.extra.PROVISIONING_WIFI_SSID": "Corp", "android.app.extra.PROVISIONING_WIFI_PASSWORD": "WIFISECRET",
               "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": {"enroll.SERVER_URL": "https://mdm.example.com", "enroll.ENROLLMENT_TOKEN": "$secret"}}"""
        val a = parseEnrollmentPayload(android)
        assertFalse(a.toString().contains("WIFISECRET") || a.toString().contains(secret), a.toString())
        val provisioning = a.intent as? ScannedIntent.AndroidProvisioning ?: error("not provisioning: ${a.intent}")
        assertEquals("com.example.dpc", provisioning.adminPackage)
        assertEquals("WIFISECRET", provisioning.wifi?.password?.expose())
        assertEquals("token", a.credential?.kind())

        val bare = parseEnrollmentPayload("ent_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")
        assertEquals(ScannedIntent.Token, bare.intent)
        assertNull(bare.serverUrl)
        val local = "http://127.0.0.1:8080/go?token=$secret"
        assertInvalid { parseEnrollmentPayload(local) }
        assertEquals("http://127.0.0.1:8080", parseEnrollmentPayload(local, allowInsecureLoopbackHttp = true).serverUrl)
    }

    @Test
    fun hostileTextIsInvalidInputWithoutSecrets() {
        val cases =
            listOf(
                "",
                "hello world",
                "https://mdm.example.com/go?token=" + "A".repeat(5000),
                "http://mdm.example.com/go?token=$secret",
                "https://user:$secret@mdm.example.com/go",
                "https://mdm.example.com/go?token=$secret\u0007",
                "$secret\u0000",
                """{"enroll.SERVER_URL": 42}""",
                """{"enroll.SERVER_URL": "https://mdm.example.com", "enroll.ENROLLMENT_TOKEN": 12345678901234567}""",
                """{"android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": "not a bundle"}""",
            )
        for (text in cases) assertInvalid { parseEnrollmentPayload(text) }
    }

    @Test
    fun adminExtrasBundleGivesACredential() {
        val p =
            parseAdminExtras(
                mapOf("enroll.SERVER_URL" to "https://mdm.example.com", "enroll.ENROLLMENT_TOKEN" to secret, "enroll.attr.site" to "Lyon"),
            )
        assertFalse(p.toString().contains(secret), p.toString())
        assertEquals("https://mdm.example.com", p.serverUrl)
        assertEquals("token", p.credential?.kind())
        val extras = p.intent as? ScannedIntent.KmeExtras ?: error("not extras: ${p.intent}")
        assertEquals(mapOf("site" to "Lyon"), extras.attributes)

        // What a PersistableBundle holds: strings, and from an app's own bundle booleans/numbers.
        val entries = mapOf<String, Any?>("enroll.SERVER_URL" to "https://mdm.example.com", "enroll.PROFILE_ID" to "bulk-1", "flag" to true, "n" to 42, "gone" to null)
        assertEquals(mapOf("enroll.SERVER_URL" to "https://mdm.example.com", "enroll.PROFILE_ID" to "bulk-1", "flag" to "true", "n" to "42"), adminExtrasOf(entries))
        val tokenless = parseAdminExtras(adminExtrasOf(entries))
        assertEquals("tokenless", tokenless.credential?.kind())
        assertInvalid { adminExtrasOf(mapOf("enroll.SERVER_URL" to arrayOf("https://mdm.example.com"))) }
        assertInvalid { adminExtrasOf(mapOf("nested" to mapOf("enroll.TOKEN" to secret))) }
    }

    @Test
    fun hostileAdminExtrasAreInvalidInputWithoutSecrets() {
        val url = "enroll.SERVER_URL" to "https://mdm.example.com"
        val cases =
            listOf(
                emptyMap(),
                (0 until 300).associate { "k$it" to "v" },
                mapOf("enroll.attr.site" to "Lyon"),
                mapOf("enroll.SERVER_URL" to "http://mdm.example.com", "enroll.TOKEN" to secret),
                mapOf("enroll.SERVER_URL" to "https://u:$secret@mdm.example.com"),
                mapOf(url, "enroll.ENROLLMENT_TOKEN" to "$secret\n"),
                mapOf(url, "enroll.ENROLLMENT_TOKEN" to "A".repeat(5000)),
                mapOf(url, "x.TOKEN" to secret, "y.ENROLLMENT_TOKEN" to secret),
                mapOf(url, "enroll.attr.bad\u001bkey" to "v"),
                mapOf(url, "android.app.extra.PROVISIONING_WIFI_PASSWORD" to secret),
            )
        for (extras in cases) assertInvalid { parseAdminExtras(extras) }
        assertInvalid { parseAdminExtras(mapOf("enroll.SERVER_URL" to "http://localhost:8080", "enroll.TOKEN" to secret)) }
        assertNotNull(parseAdminExtras(mapOf("enroll.SERVER_URL" to "http://localhost:8080", "enroll.TOKEN" to secret), allowInsecureLoopbackHttp = true).credential)
    }

    @Test
    fun aDpcEnrollsFromItsAdminExtrasAndTheProfileTextHidesTheChallenge() =
        runBlocking {
            val payload = parseAdminExtras(mapOf("enroll.SERVER_URL" to env("ENROLL_TEST_SERVER"), "enroll.ENROLLMENT_TOKEN" to env("ENROLL_TEST_DPC_TOKEN")))
            val installer = RecordingInstaller()
            val config = ClientConfig(caCertificates = listOf(File(env("ENROLL_TEST_CA")).readBytes()))
            val client = openEnrollClient(config, MemorySecureStore(), installer, FixedDevice("jvm-dpc-${System.nanoTime()}"))
            val state = client.enroll(assertNotNull(payload.serverUrl), assertNotNull(payload.credential))
            assertTrue(state is EnrollmentState.Active, "state: $state")

            val profile = installer.installed.single()
            val bytes = profile.signedProfile.bytes()
            assertEquals(bytes.size.toULong(), profile.signedProfile.size())
            val challenge =
                Regex("<key>Challenge</key>\\s*<string>([^<]+)</string>").find(String(bytes, Charsets.ISO_8859_1))?.groupValues?.get(1)
                    ?: error("the profile has no SCEP challenge")
            for (text in listOf(profile.toString(), profile.signedProfile.toString())) {
                assertFalse(text.contains(challenge), text)
                assertTrue(text.contains("${bytes.size} bytes"), text)
            }
            client.close()
        }
}
