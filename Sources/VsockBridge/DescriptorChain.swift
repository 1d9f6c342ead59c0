// A descriptor chain taken from a virtqueue's available ring, resolved into host buffers. The virtio
// spec (2.7.4.2) requires a chain's device-readable descriptors to come before its device-writable
// ones, so a chain is two lists: what the driver gave us to read, and where we may write.

/// One available buffer: the head descriptor index (returned in the used ring) and its memory.
public struct DescriptorChain {
    public let head: UInt16
    public let readable: [UnsafeMutableRawBufferPointer]
    public let writable: [UnsafeMutableRawBufferPointer]

    public init(head: UInt16, readable: [UnsafeMutableRawBufferPointer], writable: [UnsafeMutableRawBufferPointer]) {
        self.head = head
        self.readable = readable
        self.writable = writable
    }

    public var readableLength: Int { readable.reduce(0) { $0 + $1.count } }
    public var writableLength: Int { writable.reduce(0) { $0 + $1.count } }

    /// The readable bytes `[offset, offset + length)` as buffers in place (no copy); fewer bytes when
    /// the chain ends first.
    public func readableSlices(from offset: Int, length: Int) -> [UnsafeRawBufferPointer] {
        slices(of: readable, from: offset, length: length).map { UnsafeRawBufferPointer($0) }
    }

    /// The writable bytes `[offset, offset + length)` in place; fewer when the chain ends first.
    public func writableSlices(from offset: Int, length: Int) -> [UnsafeMutableRawBufferPointer] {
        slices(of: writable, from: offset, length: length)
    }

    /// Copies readable bytes from `offset` into `destination`; returns how many were copied.
    public func read(into destination: UnsafeMutableRawBufferPointer, from offset: Int = 0) -> Int {
        var copied = 0
        for slice in readableSlices(from: offset, length: destination.count) {
            UnsafeMutableRawBufferPointer(rebasing: destination[copied..<(copied + slice.count)]).copyMemory(from: slice)
            copied += slice.count
        }
        return copied
    }

    /// Copies `source` into the writable buffers from `offset`; returns how many bytes fitted.
    @discardableResult
    public func write(_ source: UnsafeRawBufferPointer, at offset: Int = 0) -> Int {
        var copied = 0
        for slice in writableSlices(from: offset, length: source.count) {
            slice.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[copied..<(copied + slice.count)]))
            copied += slice.count
        }
        return copied
    }

    private func slices(of buffers: [UnsafeMutableRawBufferPointer], from offset: Int, length: Int)
        -> [UnsafeMutableRawBufferPointer]
    {
        var result: [UnsafeMutableRawBufferPointer] = []
        var skip = offset
        var wanted = length
        for buffer in buffers where wanted > 0 {
            if skip >= buffer.count {
                skip -= buffer.count
                continue
            }
            let take = min(buffer.count - skip, wanted)
            if let base = buffer.baseAddress {
                result.append(UnsafeMutableRawBufferPointer(start: base + skip, count: take))
            }
            wanted -= take
            skip = 0
        }
        return result
    }
}
