// Android-only: a SecureStore backed by the Android Keystore.
package io.github.enroll.android

import android.content.Context
import android.content.SharedPreferences
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.UserNotAuthenticatedException
import android.util.Base64
import io.github.enroll.PlatformException
import io.github.enroll.SecureStore
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * [SecureStore] for Android: values are encrypted with AES-256-GCM under a non-exportable key
 * kept in the AndroidKeyStore (hardware-backed where the device has a TEE or StrongBox), and the
 * ciphertexts are kept in a private [SharedPreferences] file.
 *
 * - Each value has a fresh 12-byte IV; the key name is bound as associated data, so a
 *   ciphertext moved to another key does not decrypt.
 * - [set] uses `commit()`, which writes the preferences file with a rename: after a crash the
 *   store holds the old or the new value, as the library requires.
 * - The preferences file should be excluded from backups (`android:allowBackup="false"` or
 *   backup rules): the Keystore key never leaves the device, so a restored ciphertext is useless.
 *
 * Called by the library on its background threads; methods are synchronised.
 */
class KeystoreSecureStore(
    context: Context,
    private val keyAlias: String = "io.github.enroll.store",
    preferencesName: String = "io.github.enroll.secure",
) : SecureStore {
    private val prefs: SharedPreferences =
        context.applicationContext.getSharedPreferences(preferencesName, Context.MODE_PRIVATE)

    @Synchronized
    override fun get(key: String): ByteArray? {
        val stored = prefs.getString(key, null) ?: return null
        return guard("read") {
            val blob = Base64.decode(stored, Base64.NO_WRAP)
            if (blob.size < IV_BYTES + TAG_BITS / 8) throw PlatformException.Other("stored value is truncated")
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, blob, 0, IV_BYTES))
            cipher.updateAAD(key.toByteArray(Charsets.UTF_8))
            cipher.doFinal(blob, IV_BYTES, blob.size - IV_BYTES)
        }
    }

    @Synchronized
    override fun set(
        key: String,
        value: ByteArray,
    ) {
        val encoded =
            guard("write") {
                val cipher = Cipher.getInstance(TRANSFORMATION)
                cipher.init(Cipher.ENCRYPT_MODE, key())
                cipher.updateAAD(key.toByteArray(Charsets.UTF_8))
                val sealed = cipher.doFinal(value)
                Base64.encodeToString(cipher.iv + sealed, Base64.NO_WRAP)
            }
        if (!prefs.edit().putString(key, encoded).commit()) {
            throw PlatformException.Other("the preferences file could not be written")
        }
    }

    @Synchronized
    override fun delete(key: String) {
        if (!prefs.edit().remove(key).commit()) {
            throw PlatformException.Other("the preferences file could not be written")
        }
    }

    private fun key(): SecretKey {
        val keyStore = KeyStore.getInstance(ANDROID_KEY_STORE).apply { load(null) }
        (keyStore.getKey(keyAlias, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEY_STORE)
        generator.init(
            KeyGenParameterSpec
                .Builder(keyAlias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .setRandomizedEncryptionRequired(true)
                .build(),
        )
        return generator.generateKey()
    }

    /** Maps Keystore failures to [PlatformException]s whose messages hold no secret. */
    private inline fun <T> guard(
        what: String,
        block: () -> T,
    ): T =
        try {
            block()
        } catch (e: PlatformException) {
            throw e
        } catch (e: UserNotAuthenticatedException) {
            throw PlatformException.Denied("keystore $what: the user must unlock the device")
        } catch (e: KeyPermanentlyInvalidatedException) {
            throw PlatformException.Denied("keystore $what: the key was invalidated")
        } catch (e: GeneralSecurityException) {
            throw PlatformException.Other("keystore $what failed: ${e.javaClass.simpleName}")
        } catch (e: IllegalArgumentException) {
            throw PlatformException.Other("keystore $what: stored value is not valid base64")
        }

    private companion object {
        const val ANDROID_KEY_STORE = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TAG_BITS = 128
    }
}
