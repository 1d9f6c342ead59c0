import Foundation

/// An exclusive advisory lock on a file (flock), held until `release` or deinit.
final class FileLock {
    private let descriptor: Int32

    /// Blocks until the lock on `path` is ours.
    init(_ path: URL) throws(ComposeKernelError) {
        try? FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        descriptor = open(path.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ComposeKernelError("cannot open lock file \(path.path): errno \(errno)") }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(descriptor)
                throw ComposeKernelError("cannot lock \(path.path): errno \(errno)")
            }
        }
    }

    deinit { close(descriptor) }
}
