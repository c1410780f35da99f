// XCTests of the Swift bindings against the reference server, mirroring the Kotlin JVM test
// (android/src/test/kotlin/io/github/enroll/EnrollClientJvmTest.kt). Run on macOS with
// apple/run-swift-tests.sh, which starts the server and exports ENROLL_TEST_*.
import Enroll
import Foundation
import XCTest

/// A Swift `SecureStore` over a dictionary: the library calls it from Rust.
final class MemorySecureStore: SecureStore, @unchecked Sendable {
    private let lock = NSLock()
    private var map: [String: Data] = [:]
    private(set) var calls = 0
    var failWith: Error?

    func contains(_ key: String) -> Bool { lock.locked { map[key] != nil } }

    func get(key: String) throws -> Data? {
        lock.locked { calls += 1; return map[key] }
    }

    func set(key: String, value: Data) throws {
        try lock.locked {
            calls += 1
            if let error = failWith { throw error }
            map[key] = value
        }
    }

    func delete(key: String) throws {
        lock.locked { calls += 1; map[key] = nil }
    }
}

final class RecordingInstaller: ProfileInstaller, @unchecked Sendable {
    private let lock = NSLock()
    private var profiles: [ProfileToInstall] = []
    private(set) var onMainThread = false

    var installedCount: Int { lock.locked { profiles.count } }

    func install(profile: ProfileToInstall) throws -> InstallOutcome {
        lock.locked {
            if Thread.isMainThread { onMainThread = true }
            profiles.append(profile)
        }
        return .installed
    }

    func isInstalled(uuid: String) throws -> Bool { lock.locked { profiles.contains { $0.uuid == uuid } } }

    func remove(identifier: String) throws { lock.locked { profiles.removeAll { $0.identifier == identifier } } }
}

final class FixedDevice: DeviceInfo, @unchecked Sendable {
    private let id: String
    init(_ id: String) { self.id = id }

    func describe() throws -> DeviceDescriptor {
        DeviceDescriptor(platform: .ios, osVersion: "17.4", model: "iPhone15,2", manufacturer: "Apple",
                         serial: "SER-\(id)", imeis: [], hardwareId: id, agentVersion: "xctest")
    }
}

final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [LogRecord] = []
    func append(_ r: LogRecord) { lock.locked { records.append(r) } }
    var all: [LogRecord] { lock.locked { records } }
}

final class EnrollClientTests: XCTestCase {
    static let logs = LogCollector()

    override class func setUp() {
        super.setUp()
        try? initPlatform(config: PlatformConfig(logLevel: .info, logSink: ClosureLogSink { logs.append($0) }))
    }

    private func env(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name] else {
            throw XCTSkip("\(name) is not set (run apple/run-swift-tests.sh)")
        }
        return value
    }

    private func client(_ name: String, store: MemorySecureStore = MemorySecureStore(),
                        installer: RecordingInstaller = RecordingInstaller()) async throws -> EnrollClient {
        let ca = try Data(contentsOf: URL(fileURLWithPath: try env("ENROLL_TEST_CA")))
        return try await EnrollClient.open(config: ClientConfig(caCertificates: [ca]), store: store,
                                           installer: installer, device: FixedDevice("swift-\(name)-\(UUID())"))
    }

    func testTokenEnrollmentReachesActiveThroughSwiftStoreAndStream() async throws {
        let store = MemorySecureStore()
        let installer = RecordingInstaller()
        let c = try await client("token", store: store, installer: installer)
        let server = try env("ENROLL_TEST_SERVER")
        var iterator = c.states().makeAsyncIterator()
        let first = await iterator.next()
        XCTAssertEqual(first, .idle, "the stream yields the current state first")

        let state = try await c.enrollCancellable(serverUrl: server, credential: try Credential.token(token: try env("ENROLL_TEST_TOKEN")))
        guard case .active = state else { return XCTFail("not active: \(state)") }
        var seen: [EnrollmentState] = []
        while let next = await iterator.next() {
            seen.append(next)
            if case .active = next { break }
        }
        XCTAssertTrue(seen.contains { if case .discovered = $0 { return true } else { return false } }, "\(seen)")

        XCTAssertTrue(store.contains("enroll.state.v1"))
        XCTAssertGreaterThanOrEqual(store.calls, 5)
        XCTAssertEqual(installer.installedCount, 1)
        XCTAssertFalse(installer.onMainThread)

        let checkin = try await c.checkin(details: ["battery": "80"])
        XCTAssertEqual(checkin.deviceState, .active)
        XCTAssertNil(checkin.applied)

        do {
            _ = try await c.enroll(serverUrl: server, credential: try Credential.token(token: try env("ENROLL_TEST_TOKEN")))
            XCTFail("enrolling an active device must fail")
        } catch EnrollError.NotAllowedNow {}
        try await c.forget()
        XCTAssertEqual(c.status(), .idle)
        XCTAssertFalse(store.contains("enroll.state.v1"))
    }

    func testPinEnrollmentReachesActive() async throws {
        let user = try env("ENROLL_TEST_PIN_USER")
        let c = try await client("pin")
        let state = try await c.enroll(serverUrl: try env("ENROLL_TEST_PIN_URL"),
                                       credential: try Credential.pin(user: user, pin: try env("ENROLL_TEST_PIN")))
        guard case let .active(_, enrolledUser, _) = state else { return XCTFail("not active: \(state)") }
        XCTAssertEqual(enrolledUser, user)
        XCTAssertTrue(enrollmentStateIsSettled(state: state))
    }

    func testWrongPinIsATypedErrorWithAttemptsLeft() async throws {
        let real = try env("ENROLL_TEST_WRONG_PIN_REAL")
        let wrong = real == "000000" ? "111111" : "000000"
        let c = try await client("wrong-pin")
        do {
            _ = try await c.enroll(serverUrl: try env("ENROLL_TEST_WRONG_PIN_URL"),
                                   credential: try Credential.pin(user: try env("ENROLL_TEST_WRONG_PIN_USER"), pin: wrong))
            XCTFail("a wrong PIN must fail")
        } catch let EnrollError.WrongCredentials(attemptsLeft, _) {
            XCTAssertEqual(attemptsLeft, 4)
        }
        guard case .failed = c.status() else { return XCTFail("status: \(c.status())") }
    }

    func testInvalidInputIsTypedAndNeverQuotesTheSecret() throws {
        XCTAssertThrowsError(try Credential.pin(user: "user@example.com", pin: "12x4")) { error in
            guard case let EnrollError.InvalidInput(detail) = error else { return XCTFail("\(error)") }
            XCTAssertFalse(detail.contains("12x4"))
        }
        let token = try Credential.token(token: "ent_SECRET_TOKEN_VALUE")
        XCTAssertFalse(String(reflecting: token).contains("SECRET"))
        XCTAssertEqual(token.kind(), "token")
    }

    func testStoreFailuresMapToPlatformErrors() async throws {
        let store = MemorySecureStore()
        let c = try await client("locked", store: store)
        let server = try env("ENROLL_TEST_SERVER")
        store.failWith = PlatformError.Denied(detail: "keychain locked")
        do {
            _ = try await c.enroll(serverUrl: server, credential: try Credential.token(token: "ent_any_token_1234"))
            XCTFail("a locked store must fail")
        } catch let EnrollError.Platform(kind, _) {
            XCTAssertEqual(kind, .denied)
        }
        struct DiskFull: Error {}
        store.failWith = DiskFull()
        do {
            _ = try await c.enroll(serverUrl: server, credential: try Credential.token(token: "ent_any_token_1234"))
            XCTFail("a failing store must fail")
        } catch let EnrollError.Platform(kind, _) {
            XCTAssertEqual(kind, .other)
        }
        XCTAssertEqual(c.status(), .idle)
    }

    func testLogsReachTheSwiftSinkWithoutSecrets() throws {
        let token = try env("ENROLL_TEST_TOKEN")
        let pin = try env("ENROLL_TEST_PIN")
        let logs = Self.logs.all
        XCTAssertTrue(logs.contains { $0.message.contains("enroll-ffi initialised") })
        XCTAssertFalse(logs.contains { $0.message.contains(token) || $0.message.contains(pin) })
    }

    func testScanningFrames() throws {
        let blank = Data(repeating: 0xFF, count: 64 * 48)
        XCTAssertTrue(try scanFrame(data: blank, width: 64, height: 48, stride: 64).isEmpty)
        XCTAssertThrowsError(try scanFrame(data: blank, width: 64, height: 48, stride: 32))
        let session = QrScanSession()
        XCTAssertNil(try session.feed(data: blank, width: 64, height: 48, stride: 64))
        XCTAssertEqual(session.framesScanned(), 1)
    }

    func testPayloadsFromTextAndAdminExtrasNeverShowTheToken() throws {
        let secret = "SECRETTOKEN1234567890"
        let p = try parseEnrollmentPayload(text: "https://mdm.example.com/go?token=\(secret)&tenant=t1")
        XCTAssertEqual(p.serverUrl, "https://mdm.example.com")
        XCTAssertEqual(p.credential?.kind(), "token")
        XCTAssertFalse(String(describing: p).contains(secret))
        guard case .invitation(_, _, let tenant, _) = p.intent else { return XCTFail("not an invitation") }
        XCTAssertEqual(tenant, "t1")
        let extras = try parseAdminExtras(extras: ["enroll.SERVER_URL": "https://mdm.example.com", "enroll.PROFILE_ID": "bulk-1"])
        XCTAssertEqual(extras.credential?.kind(), "tokenless")
        for text in ["http://mdm.example.com/go?token=\(secret)", "\(secret)\u{0}", "{\"enroll.SERVER_URL\": 42}"] {
            XCTAssertThrowsError(try parseEnrollmentPayload(text: text)) { error in
                guard case EnrollError.InvalidInput(let detail) = error else { return XCTFail("\(error)") }
                XCTAssertFalse(detail.contains(secret))
            }
        }
        XCTAssertThrowsError(try parseAdminExtras(extras: ["enroll.SERVER_URL": "http://mdm.example.com", "enroll.TOKEN": secret]))
    }
}

extension NSLock {
    /// Runs `body` holding the lock (NSLocking.withLock needs macOS 13 / iOS 16).
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
