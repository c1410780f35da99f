// Android admin extras bundles for the generated parseAdminExtras (a decoded QR text goes to
// the generated parseEnrollmentPayload as is).
//
// Platform-neutral: nothing here touches android.*, so this file compiles and is tested on the
// host JVM (bindings/tests/run-kotlin.sh). The Android side (PersistableBundle, Intent) is in
// io.github.enroll.android.Provisioning.kt.
package io.github.enroll.client

import io.github.enroll.EnrollException
import io.github.enroll.parseAdminExtras

/**
 * The string map [parseAdminExtras] takes, from the entries of an admin extras bundle (a
 * `PersistableBundle`'s `keySet()` and values).
 *
 * Android delivers the admin extras of a QR, NFC or zero-touch provisioning as strings; a
 * bundle built by an app may also hold booleans and numbers, which are kept as their text
 * (`true`, `42`, `1.5`). Null values are left out. Arrays and nested bundles are not enrollment
 * data: they throw [EnrollException.InvalidInput] naming the key (never the value).
 */
fun adminExtrasOf(entries: Map<String, Any?>): Map<String, String> =
    entries.entries
        .mapNotNull { (key, value) ->
            when (value) {
                null -> null
                is String -> key to value
                is Boolean, is Int, is Long, is Double -> key to value.toString()
                else -> throw EnrollException.InvalidInput("admin extras key $key: a ${value.javaClass.simpleName} is not a string")
            }
        }.toMap()
