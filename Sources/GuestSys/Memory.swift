#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// A shared mapping of a file (guest RAM handed over by a VMM, /dev/mem for the boot timer).
public final class MemoryMapping: @unchecked Sendable {
    // Sendable because the mapping's address and size never change; synchronising access to the
    // bytes is the owner's job, as with any shared memory.
    public let base: UnsafeMutableRawPointer
    public let size: Int

    /// mmap(2) of `size` bytes of `fd` from `offset`, shared, readable and writable.
    public init(fd: FileDescriptor, size: Int, offset: Int64 = 0, writable: Bool = true) throws(SysError) {
        let protection = PROT_READ | (writable ? PROT_WRITE : 0)
        guard let pointer = mmap(nil, size, protection, MAP_SHARED, fd.rawValue, off_t(offset)),
              pointer != MAP_FAILED else {
            throw SysError("mmap", [fd.description, "\(size)", "\(offset)"], code: errno)
        }
        base = pointer
        self.size = size
    }

    deinit { munmap(base, size) }
}
