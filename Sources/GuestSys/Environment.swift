// Reading this process's own environment without Foundation (guest-init has none).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The calling process's environment variables.
public enum Environment {
    /// getenv(3): the value of a variable, nil when it is unset.
    public static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self),
                                                    count: strlen(raw)), as: UTF8.self)
    }
}
