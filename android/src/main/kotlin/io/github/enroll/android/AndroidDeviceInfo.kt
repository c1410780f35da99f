// Android-only: DeviceInfo from Build.*, Settings.Secure.ANDROID_ID and TelephonyManager.
package io.github.enroll.android

import android.annotation.SuppressLint
import android.content.Context
import android.os.Build
import android.provider.Settings
import android.telephony.TelephonyManager
import io.github.enroll.DeviceDescriptor
import io.github.enroll.DeviceInfo
import io.github.enroll.DevicePlatform

/**
 * [DeviceInfo] for Android.
 *
 * - OS version, model and manufacturer come from `Build`;
 * - the hardware id is `Settings.Secure.ANDROID_ID` (per app signing key and user since
 *   Android 8);
 * - the serial number and IMEIs are only readable by a device owner / profile owner or with
 *   `READ_PRIVILEGED_PHONE_STATE` (Android 10+); without that access they are left out and the
 *   server matches the device by its other identifiers.
 *
 * Called by the library on its background threads at enrollment and check-in.
 */
class AndroidDeviceInfo(
    context: Context,
    private val agentVersion: String,
) : DeviceInfo {
    private val app = context.applicationContext

    override fun describe(): DeviceDescriptor =
        DeviceDescriptor(
            platform = DevicePlatform.ANDROID,
            osVersion = Build.VERSION.RELEASE,
            model = Build.MODEL,
            manufacturer = Build.MANUFACTURER,
            serial = serial(),
            imeis = imeis(),
            hardwareId = Settings.Secure.getString(app.contentResolver, Settings.Secure.ANDROID_ID),
            agentVersion = agentVersion,
        )

    @SuppressLint("HardwareIds", "MissingPermission")
    private fun serial(): String? =
        try {
            Build.getSerial().takeUnless { it.isBlank() || it == Build.UNKNOWN }
        } catch (e: SecurityException) {
            null
        }

    @SuppressLint("HardwareIds", "MissingPermission")
    private fun imeis(): List<String> {
        val telephony = app.getSystemService(TelephonyManager::class.java) ?: return emptyList()
        return try {
            val modems =
                if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                    telephony.activeModemCount
                } else {
                    @Suppress("DEPRECATION")
                    telephony.phoneCount
                }
            (0 until modems.coerceAtMost(2))
                .mapNotNull { slot -> telephony.getImei(slot) }
                .filter { it.length == 15 }
        } catch (e: SecurityException) {
            emptyList()
        } catch (e: UnsupportedOperationException) {
            emptyList()
        }
    }
}
