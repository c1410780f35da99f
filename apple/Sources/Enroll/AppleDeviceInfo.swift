// DeviceInfo for iOS (UIDevice) and macOS (IOKit platform expert).
import Foundation
#if os(iOS)
import UIKit
#elseif os(macOS)
import IOKit
#endif

/// `DeviceInfo` for Apple platforms, read once when created.
///
/// - iOS: OS version from `UIDevice`, the hardware model identifier (`iPhone15,2`), and
///   `identifierForVendor` as hardware id (apps cannot read the UDID or serial number; the MDM
///   server learns them from the installed profile). Create it on the main actor.
/// - macOS: OS version, `hw.model`, and the platform serial number and UUID from IOKit.
public final class AppleDeviceInfo: DeviceInfo, @unchecked Sendable {
    private let descriptor: DeviceDescriptor

    #if os(iOS)
    /// Reads the device description (`UIDevice` is main-actor bound).
    @MainActor
    public init(agentVersion: String) {
        let device = UIDevice.current
        descriptor = DeviceDescriptor(
            platform: .ios,
            osVersion: device.systemVersion,
            model: Self.machine(),
            manufacturer: "Apple",
            serial: nil,
            imeis: [],
            hardwareId: device.identifierForVendor?.uuidString,
            agentVersion: agentVersion
        )
    }

    private static func machine() -> String {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
    #elseif os(macOS)
    /// Reads the Mac's description.
    public init(agentVersion: String) {
        let version = ProcessInfo.processInfo.operatingSystemVersion
        descriptor = DeviceDescriptor(
            platform: .macos,
            osVersion: "\(version.majorVersion).\(version.minorVersion).\(version.patchVersion)",
            model: Self.sysctlString("hw.model") ?? "Mac",
            manufacturer: "Apple",
            serial: Self.platformProperty(kIOPlatformSerialNumberKey),
            imeis: [],
            hardwareId: Self.platformProperty(kIOPlatformUUIDKey),
            agentVersion: agentVersion
        )
    }

    private static func sysctlString(_ name: String) -> String? {
        var size = 0
        guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
        var bytes = [CChar](repeating: 0, count: size)
        guard sysctlbyname(name, &bytes, &size, nil, 0) == 0 else { return nil }
        return String(cString: bytes)
    }

    private static func platformProperty(_ key: String) -> String? {
        let service = IOServiceGetMatchingService(kIOMainPortDefault, IOServiceMatching("IOPlatformExpertDevice"))
        guard service != 0 else { return nil }
        defer { IOObjectRelease(service) }
        return IORegistryEntryCreateCFProperty(service, key as CFString, kCFAllocatorDefault, 0)?
            .takeRetainedValue() as? String
    }
    #endif

    /// The description read at creation. Called by the library on a background thread.
    public func describe() throws -> DeviceDescriptor {
        descriptor
    }
}
