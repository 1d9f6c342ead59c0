import Foundation
import GuestSys

/// Runs work inside a network namespace given by path (/var/run/netns/NAME, /proc/PID/ns/net): on a thread
/// of its own that enters the namespace (setns applies to the calling thread only) and ends with the work,
/// so no other thread of this process ever leaves the host's namespace. Sockets and taps opened there keep
/// belonging to that namespace wherever they are used afterwards.
public enum NamespaceThread {
    public static func run<Result: Sendable>(networkNamespace path: String,
                                             _ body: @escaping @Sendable () throws -> Result) throws -> Result {
        let namespace: FileDescriptor
        do { namespace = try FileDescriptor.open(path, .readOnly) } catch {
            throw TaskNetworkError.namespace(path, "cannot open it: \(error)")
        }
        defer { namespace.closeQuietly() }
        let outcome = Outcome<Result>()
        let thread = Thread {
            let result: Swift.Result<Result, any Error>
            do throws(SysError) {
                try NetworkNamespaces.enter(namespace)
                do { result = .success(try body()) } catch { result = .failure(error) }
            } catch {
                result = .failure(TaskNetworkError.namespace(path, "cannot enter it (is it a network namespace?): \(error)"))
            }
            outcome.fill(result)
        }
        thread.name = "HostNetwork.namespace"
        thread.start()
        return try outcome.wait().get()
    }

    /// One result handed from the namespace thread to the caller.
    private final class Outcome<Value>: @unchecked Sendable {
        // `value` is written once and read once, both under `condition`.
        private let condition = NSCondition()
        private var value: Swift.Result<Value, any Error>?

        func fill(_ result: Swift.Result<Value, any Error>) {
            condition.lock()
            value = result
            condition.broadcast()
            condition.unlock()
        }

        func wait() -> Swift.Result<Value, any Error> {
            condition.lock()
            defer { condition.unlock() }
            while value == nil { condition.wait() }
            return value!
        }
    }
}
