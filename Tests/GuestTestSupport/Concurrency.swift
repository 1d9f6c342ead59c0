// Small pieces tests share with their helper threads: a locked value, and a descriptor read to its end
// on a thread of its own (a stream that must be drained while the test waits for something else).
import Foundation
import GuestSys

/// A value shared between a test and its helper threads.
public final class Locked<Value>: @unchecked Sendable {
    // Every access goes through the lock.
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func get() -> Value { lock.withLock { value } }
    public func set(_ new: Value) { lock.withLock { value = new } }
    public func update<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}

/// Reads a descriptor to its end on another thread; `bytes()` waits for it.
public final class StreamReader: @unchecked Sendable {
    // `result` is written by the reading thread before `done` is signalled and read only after.
    private var result: Result<[UInt8], any Error> = .success([])
    private let done = DispatchSemaphore(value: 0)

    public init(_ fd: FileDescriptor, limit: Int = 256 << 20) {
        Thread.detachNewThread { [self] in
            do { result = .success(try fd.readToEnd(limit: limit)) } catch { result = .failure(error) }
            done.signal()
        }
    }

    /// Everything read, once the stream has ended; the read's error if it failed.
    public func bytes() throws -> [UInt8] {
        done.wait()
        return try result.get()
    }
}
