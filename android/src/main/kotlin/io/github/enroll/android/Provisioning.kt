// Android-only: enrollment data from a DPC's provisioning intent.
package io.github.enroll.android

import android.app.admin.DevicePolicyManager
import android.content.Intent
import android.os.Build
import android.os.PersistableBundle
import io.github.enroll.EnrollException
import io.github.enroll.EnrollmentPayload
import io.github.enroll.parseAdminExtras
import io.github.enroll.client.adminExtrasOf

/**
 * The admin extras bundle ([DevicePolicyManager.EXTRA_PROVISIONING_ADMIN_EXTRAS_BUNDLE]) of a
 * provisioning intent: `ACTION_GET_PROVISIONING_MODE`, `ACTION_ADMIN_POLICY_COMPLIANCE`, or
 * the `ACTION_PROFILE_PROVISIONING_COMPLETE` broadcast of `DeviceAdminReceiver`. Null when the
 * intent carries none.
 */
@Suppress("DEPRECATION") // getParcelableExtra(String) before Android 13
fun Intent.provisioningAdminExtras(): PersistableBundle? =
    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
        getParcelableExtra(DevicePolicyManager.EXTRA_PROVISIONING_ADMIN_EXTRAS_BUNDLE, PersistableBundle::class.java)
    } else {
        getParcelableExtra<PersistableBundle>(DevicePolicyManager.EXTRA_PROVISIONING_ADMIN_EXTRAS_BUNDLE)
    }

/**
 * The bundle as the string map `parseAdminExtras` takes (see [adminExtrasOf]).
 *
 * @throws EnrollException.InvalidInput for an array or nested bundle value.
 */
@Suppress("DEPRECATION") // BaseBundle.get(String): the value of any type
fun PersistableBundle.toAdminExtras(): Map<String, String> = adminExtrasOf(keySet().associateWith { get(it) })

/**
 * The server and credential this provisioning intent's admin extras bundle enrolls with:
 * `client.enroll(payload.serverUrl ?: configuredServer, payload.credential!!)`. Pure and fast.
 *
 * @throws EnrollException.InvalidInput when the intent has no admin extras bundle, or the bundle
 *   is not an enrollment bundle (no `SERVER_URL` / `ENROLLMENT_TOKEN`, an http URL, …).
 */
fun Intent.enrollmentPayload(allowInsecureLoopbackHttp: Boolean = false): EnrollmentPayload {
    val bundle = provisioningAdminExtras() ?: throw EnrollException.InvalidInput("the intent carries no admin extras bundle")
    return parseAdminExtras(bundle.toAdminExtras(), allowInsecureLoopbackHttp)
}
