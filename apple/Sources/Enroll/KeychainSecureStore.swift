// A SecureStore backed by the Keychain (Security.framework SecItem APIs).
import Foundation
import Security

/// `SecureStore` for iOS and macOS: each value is one generic-password Keychain item
/// (`kSecClassGenericPassword`, service `service`, account = key), readable only on this device
/// after its first unlock (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`), never synced to
/// iCloud and not restored from backups to another device.
///
/// `set` updates an existing item in place (`SecItemUpdate`) or adds it (`SecItemAdd`): the
/// Keychain replaces the value atomically, as the library requires. Called by the library on its
/// background threads; the SecItem functions are thread-safe. Errors carry the `OSStatus`, never
/// the value.
public final class KeychainSecureStore: SecureStore, @unchecked Sendable {
    private let service: String
    private let accessGroup: String?

    /// A store for items of `service`, optionally shared through a Keychain `accessGroup`.
    public init(service: String = "io.github.enroll", accessGroup: String? = nil) {
        self.service = service
        self.accessGroup = accessGroup
    }

    private func query(_ key: String) -> [String: Any] {
        var q: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
        ]
        if let group = accessGroup {
            q[kSecAttrAccessGroup as String] = group
        }
        #if os(macOS)
        q[kSecUseDataProtectionKeychain as String] = true
        #endif
        return q
    }

    public func get(key: String) throws -> Data? {
        var q = query(key)
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data else { throw PlatformError.Other(detail: "keychain item has no data") }
            return data
        case errSecItemNotFound:
            return nil
        default:
            throw Self.error("read", status)
        }
    }

    public func set(key: String, value: Data) throws {
        let attributes: [String: Any] = [
            kSecValueData as String: value,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
        ]
        let status = SecItemUpdate(query(key) as CFDictionary, attributes as CFDictionary)
        switch status {
        case errSecSuccess:
            return
        case errSecItemNotFound:
            var add = query(key)
            add.merge(attributes) { _, new in new }
            let added = SecItemAdd(add as CFDictionary, nil)
            guard added == errSecSuccess else { throw Self.error("add", added) }
        default:
            throw Self.error("update", status)
        }
    }

    public func delete(key: String) throws {
        let status = SecItemDelete(query(key) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw Self.error("delete", status) }
    }

    private static func error(_ operation: String, _ status: OSStatus) -> PlatformError {
        switch status {
        case errSecInteractionNotAllowed, errSecAuthFailed, errSecUserCanceled:
            // Locked device (before first unlock) or access refused.
            return PlatformError.Denied(detail: "keychain \(operation) refused (OSStatus \(status))")
        case errSecNotAvailable, errSecMissingEntitlement:
            return PlatformError.Unavailable(detail: "keychain \(operation) unavailable (OSStatus \(status))")
        default:
            return PlatformError.Other(detail: "keychain \(operation) failed (OSStatus \(status))")
        }
    }
}
