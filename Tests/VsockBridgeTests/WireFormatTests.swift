import GuestSys
import GuestTestSupport
import Testing
@testable import VsockBridge

@Suite struct VsockHeaderTests {
    @Test func encodesTheSpecLayoutLittleEndian() throws {
        let header = VsockHeader(srcCID: 0x0102_0304_0506_0708, dstCID: 2, srcPort: 0x1122_3344, dstPort: 1024,
                                 length: 0x99, op: .rw, flags: 3, bufAlloc: 0x40000, fwdCnt: 0xdead_beef)
        let bytes = header.bytes
        #expect(bytes.count == 44)
        #expect(Array(bytes[0..<8]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(bytes[8..<16]) == [2, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[16..<20]) == [0x44, 0x33, 0x22, 0x11])
        #expect(Array(bytes[20..<24]) == [0, 4, 0, 0])
        #expect(Array(bytes[24..<28]) == [0x99, 0, 0, 0])
        #expect(Array(bytes[28..<30]) == [1, 0])          // type: stream
        #expect(Array(bytes[30..<32]) == [5, 0])          // op: RW
        #expect(Array(bytes[32..<36]) == [3, 0, 0, 0])
        #expect(Array(bytes[36..<40]) == [0, 0, 4, 0])
        #expect(Array(bytes[40..<44]) == [0xef, 0xbe, 0xad, 0xde])
        #expect(VsockHeader(bytes) == header)
    }

    @Test func shortInputAndUnknownOpsAreNotCrashes() throws {
        #expect(VsockHeader([UInt8](repeating: 0, count: 43)) == nil)
        var bytes = VsockHeader(srcCID: 3, dstCID: 2, srcPort: 1, dstPort: 2, op: .rst).bytes
        bytes[30] = 42
        let header = try #require(VsockHeader(bytes))
        #expect(header.op == nil)
        #expect(header.rawOp == 42)
    }
}

@Suite struct HybridRequestTests {
    @Test(arguments: [
        ("CONNECT 1024", UInt32?(1024)),
        ("CONNECT 0", 0),
        ("CONNECT 4294967295", 4_294_967_295),
        ("CONNECT 52\r", 52),
        ("CONNECT 4294967296", nil),
        ("CONNECT -1", nil),
        ("CONNECT +5", nil),
        ("CONNECT", nil),
        ("CONNECT ", nil),
        ("connect 5", nil),
        ("CONNECT 5 6", nil),
        ("CONNECT  5", nil),
        ("OK 5", nil),
        ("", nil),
    ])
    func parsesConnectLines(line: String, port: UInt32?) {
        switch HybridRequest.parse(line) {
        case .success(.connect(let parsed)): #expect(parsed == port)
        case .failure(let error):
            #expect(port == nil, "\(error)")
            #expect(error.description.contains(line.debugDescription))
        }
    }

    @Test func okLine() {
        #expect(HybridRequest.okLine(hostPort: 1_073_741_824) == "OK 1073741824\n")
    }
}

@Suite struct ByteQueueTests {
    @Test func keepsOrderAcrossGrowthAndCompaction() {
        let queue = ByteQueue(capacity: 64)
        var model: [UInt8] = []
        var next: UInt8 = 0
        for round in 0..<200 {
            let add = (round * 37) % 150
            let bytes = (0..<add).map { _ -> UInt8 in next &+= 1; return next }
            queue.append(bytes)
            model += bytes
            let take = min(model.count, (round * 53) % 170)
            var out = [UInt8](repeating: 0, count: take)
            #expect(out.withUnsafeMutableBytes { queue.take(into: $0) } == take)
            #expect(out == Array(model.prefix(take)))
            model.removeFirst(take)
            #expect(queue.count == model.count)
            #expect(Array(queue.bytes) == model)
        }
    }

    @Test func appendsInPlace() {
        let queue = ByteQueue(capacity: 64)
        queue.append([1, 2])
        let written = queue.appendInPlace(maximum: 100) { buffer in
            #expect(buffer.count == 100)
            buffer[0] = 3
            return 1
        }
        #expect(written == 1)
        #expect(Array(queue.bytes) == [1, 2, 3])
        queue.consume(3)
        #expect(queue.isEmpty)
    }
}

@Suite struct GuestMemoryTests {
    @Test func translatesBothAddressSpacesAndSplitsAcrossRegions() throws {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 0x3000, alignment: 4096)
        defer { raw.deallocate() }
        // Two regions adjacent in guest-physical space, apart in QEMU's, like q35's low memory split.
        let memory = GuestMemory(regions: [
            GuestMemoryRegion(guestAddress: 0, size: 0x1000, userAddress: 0x10_0000, host: raw),
            GuestMemoryRegion(guestAddress: 0x1000, size: 0x2000, userAddress: 0x50_0000, host: raw + 0x1000),
        ])
        #expect(memory.pointer(guestAddress: 0x1800, length: 16) == raw + 0x1800)
        #expect(memory.pointer(userAddress: 0x50_0010, length: 16) == raw + 0x1010)
        #expect(memory.pointer(guestAddress: 0xff8, length: 16) == nil)    // straddles: not one pointer
        let split = try #require(memory.buffers(guestAddress: 0xff8, length: 16))
        #expect(split.map(\.count) == [8, 8])
        #expect(memory.buffers(guestAddress: 0x2ff0, length: 32) == nil)  // runs off the end
        #expect(memory.buffers(guestAddress: UInt64.max - 4, length: 8) == nil)
        #expect(memory.pointer(userAddress: 0x20_0000, length: 1) == nil)
    }

    /// The memory table comes from the front-end: sums that overflow and files too small for the
    /// mapping are errors, never a trap or a mapping that faults on first touch.
    @Test(arguments: [
        (VhostUserMemoryRegion(guestAddress: 0, size: 0x1000, userAddress: 0, mmapOffset: UInt64.max - 0x800), "past the end"),
        (VhostUserMemoryRegion(guestAddress: UInt64.max - 0x800, size: 0x1000, userAddress: 0, mmapOffset: 0), "past the end"),
        (VhostUserMemoryRegion(guestAddress: 0, size: 0x1000, userAddress: UInt64.max, mmapOffset: 0), "past the end"),
        (VhostUserMemoryRegion(guestAddress: 0, size: UInt64(Int.max), userAddress: 0, mmapOffset: 0x1000), "past the end"),
        (VhostUserMemoryRegion(guestAddress: 0, size: 0, userAddress: 0, mmapOffset: 0), "size 0"),
        (VhostUserMemoryRegion(guestAddress: 0, size: 0x2000, userAddress: 0, mmapOffset: 0), "which holds 4096"),
        (VhostUserMemoryRegion(guestAddress: 0, size: 0x1000, userAddress: 0, mmapOffset: 0x1000), "which holds 4096"),
    ])
    func badRegionsAreRefusedBeforeMapping(region: VhostUserMemoryRegion, problem: String) throws {
        let scratch = try ScratchDirectory("harden-memtable")
        let file = try FileDescriptor.open(scratch.file("ram"), [.readWrite, .create])
        defer { file.closeQuietly() }
        try file.truncate(to: 0x1000)
        let error = #expect(throws: VhostUserError.self) { _ = try GuestMemory.map([region], fds: [file]) }
        #expect(error?.description.contains(problem) == true, "\(String(describing: error))")
    }
}
