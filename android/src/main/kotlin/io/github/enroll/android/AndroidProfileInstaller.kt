// Android-only: ProfileInstaller for a device-owner / profile-owner DPC.
package io.github.enroll.android

import android.app.admin.DevicePolicyManager
import android.content.Context
import io.github.enroll.InstallOutcome
import io.github.enroll.PlatformException
import io.github.enroll.ProfileInstaller
import io.github.enroll.ProfileToInstall
import java.io.File
import java.io.IOException

/**
 * [ProfileInstaller] for an Android DPC (the app is device owner or profile owner, after QR /
 * zero-touch / KME provisioning).
 *
 * "Installing" the verified management profile means: check that this app holds management
 * rights ([DevicePolicyManager.isDeviceOwnerApp] / [DevicePolicyManager.isProfileOwnerApp]),
 * let the app apply it ([apply]: start its MDM channel from the profile's server URL and
 * identity payloads), then keep it in `noBackupFilesDir` (written with a rename, so a crash
 * leaves the old or the new profile) and remember its UUID for [isInstalled] after a restart.
 *
 * [apply] and [onRemove] run on a library background thread and may block. The profile holds a
 * one-time enrollment challenge: never log it.
 */
class AndroidProfileInstaller(
    context: Context,
    private val apply: (ProfileToInstall) -> InstallOutcome = { InstallOutcome.INSTALLED },
    private val onRemove: (identifier: String) -> Unit = {},
) : ProfileInstaller {
    private val app = context.applicationContext
    private val dpm = app.getSystemService(DevicePolicyManager::class.java)
    private val dir = File(app.noBackupFilesDir, "enroll-profiles")
    private val prefs = app.getSharedPreferences("io.github.enroll.profiles", Context.MODE_PRIVATE)

    @Synchronized
    override fun install(profile: ProfileToInstall): InstallOutcome {
        val managing = dpm != null && (dpm.isDeviceOwnerApp(app.packageName) || dpm.isProfileOwnerApp(app.packageName))
        if (!managing) {
            throw PlatformException.Unavailable("this app is neither device owner nor profile owner")
        }
        val outcome = apply(profile)
        if (outcome == InstallOutcome.INSTALLED) {
            try {
                dir.mkdirs()
                val tmp = File(dir, "profile.mobileconfig.tmp")
                tmp.writeBytes(profile.signedProfile.bytes())
                if (!tmp.renameTo(File(dir, PROFILE_FILE))) throw IOException("rename failed")
            } catch (e: IOException) {
                throw PlatformException.Other("the profile could not be stored: ${e.javaClass.simpleName}")
            }
            val saved =
                prefs
                    .edit()
                    .putString(KEY_UUID, profile.uuid)
                    .putString(KEY_IDENTIFIER, profile.identifier)
                    .commit()
            if (!saved) throw PlatformException.Other("the profile record could not be written")
        }
        return outcome
    }

    @Synchronized
    override fun isInstalled(uuid: String): Boolean = prefs.getString(KEY_UUID, null) == uuid && File(dir, PROFILE_FILE).exists()

    @Synchronized
    override fun remove(identifier: String) {
        if (prefs.getString(KEY_IDENTIFIER, null) == identifier) {
            File(dir, PROFILE_FILE).delete()
            prefs.edit().clear().commit()
        }
        onRemove(identifier)
    }

    private companion object {
        const val PROFILE_FILE = "profile.mobileconfig"
        const val KEY_UUID = "uuid"
        const val KEY_IDENTIFIER = "identifier"
    }
}
