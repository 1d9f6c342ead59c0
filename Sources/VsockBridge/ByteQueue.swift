// A FIFO of bytes for one direction of one connection: data accepted from one side that the other side
// cannot take yet. Credit flow control bounds it (the guest never sends more than our buf_alloc; we never
// read more from the host than the guest has room for), so it stays a few hundred KiB at most.

/// A growable byte FIFO kept contiguous, so its whole content is one buffer for write(2).
public final class ByteQueue {
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0
    private var end = 0

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    public var count: Int { end - start }
    public var isEmpty: Bool { end == start }

    /// The queued bytes, valid until the next mutation.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage + start, count: count) }

    /// Drops `n` bytes from the front.
    public func consume(_ n: Int) {
        precondition(n <= count, "consuming \(n) of \(count) queued bytes")
        start += n
        if start == end { start = 0; end = 0 }
    }

    public func append(_ source: UnsafeRawBufferPointer) {
        guard source.count > 0, let base = source.baseAddress else { return }
        makeRoom(source.count)
        (storage + end).copyMemory(from: base, byteCount: source.count)
        end += source.count
    }

    public func append(_ source: [UInt8]) {
        source.withUnsafeBytes { append($0) }
    }

    /// Lets `fill` write up to `maximum` bytes at the tail; it returns how many it wrote.
    public func appendInPlace(maximum: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        guard maximum > 0 else { return 0 }
        makeRoom(maximum)
        let written = fill(UnsafeMutableRawBufferPointer(start: storage + end, count: maximum))
        precondition(written >= 0 && written <= maximum)
        end += written
        return written
    }

    /// Copies up to `destination.count` bytes out and consumes them; returns how many.
    public func take(into destination: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(destination.count, count)
        if n > 0, let base = destination.baseAddress {
            base.copyMemory(from: storage + start, byteCount: n)
            consume(n)
        }
        return n
    }

    public func removeAll() { start = 0; end = 0 }

    private func makeRoom(_ n: Int) {
        if capacity - end >= n { return }
        if start > 0 {
            // Slide the content to the front before growing.
            if count > 0 { storage.copyMemory(from: storage + start, byteCount: count) }
            end -= start
            start = 0
            if capacity - end >= n { return }
        }
        var newCapacity = capacity
        while newCapacity - end < n { newCapacity *= 2 }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        grown.copyMemory(from: storage, byteCount: end)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }
}
