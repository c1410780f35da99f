// Swift concurrency helpers over the generated bindings (Generated/Enroll.swift).
//
// The generated `EnrollClient` methods are already `async throws`; they run on the library's
// own runtime and never block the calling thread or actor.
import Foundation

extension EnrollClient {
    /// The enrollment state as an `AsyncStream`: the current state first, then every change.
    ///
    /// Iterating starts an observation (`observe(observer:)`); when the stream terminates
    /// (the consuming task is cancelled, or the loop breaks) the observation's `TaskHandle` is
    /// cancelled. States arrive on a library thread and are buffered without limit (a handful
    /// per enrollment), so the library thread never waits for the consumer.
    public func states() -> AsyncStream<EnrollmentState> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let observer = StreamObserver(continuation)
            do {
                let handle = try self.observe(observer: observer)
                continuation.onTermination = { _ in handle.cancel() }
            } catch {
                continuation.finish()
            }
        }
    }

    /// `enroll(serverUrl:credential:)`, but cancelling the calling task also cancels the
    /// enrollment in the library (`cancel()`: the server deactivates MDM for the device).
    /// uniffi does not carry task cancellation into Rust by itself.
    public func enrollCancellable(serverUrl: String, credential: Credential) async throws -> EnrollmentState {
        try await withTaskCancellationHandler {
            try await enroll(serverUrl: serverUrl, credential: credential)
        } onCancel: {
            Task { _ = try? await self.cancel() }
        }
    }

    /// `resume()` with the cancellation behaviour of `enrollCancellable`.
    public func resumeCancellable() async throws -> EnrollmentState {
        try await withTaskCancellationHandler {
            try await resume()
        } onCancel: {
            Task { _ = try? await self.cancel() }
        }
    }

    /// Creates a client off the calling thread: the initializer reads the persisted state
    /// through `store` (a Keychain read) and must not run on the main actor.
    public static func open(
        config: ClientConfig,
        store: SecureStore,
        installer: ProfileInstaller,
        device: DeviceInfo,
        clock: Clock? = nil
    ) async throws -> EnrollClient {
        try await Task.detached(priority: .userInitiated) {
            try EnrollClient(config: config, store: store, installer: installer, device: device, clock: clock)
        }.value
    }
}

/// Forwards observer callbacks into an `AsyncStream` continuation (thread-safe).
final class StreamObserver: EnrollmentObserver, @unchecked Sendable {
    private let continuation: AsyncStream<EnrollmentState>.Continuation

    init(_ continuation: AsyncStream<EnrollmentState>.Continuation) {
        self.continuation = continuation
    }

    func onState(state: EnrollmentState) {
        continuation.yield(state)
    }
}

/// A `LogSink` from a closure, for `PlatformConfig(logSink:)`. The closure runs on the library
/// thread that logged: keep it short and non-blocking.
public final class ClosureLogSink: LogSink, @unchecked Sendable {
    private let block: @Sendable (LogRecord) -> Void

    /// Wraps `block`.
    public init(_ block: @escaping @Sendable (LogRecord) -> Void) {
        self.block = block
    }

    public func log(record: LogRecord) {
        block(record)
    }
}
