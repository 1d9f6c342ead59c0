import Testing
@testable import VsockBridge

@Suite struct VirtqueueTests {
    private func chain(_ buffer: AvailableBuffer?) throws -> DescriptorChain {
        guard case .chain(let chain) = try #require(buffer) else {
            Issue.record("expected a chain, got \(String(describing: buffer))")
            throw VirtqueueError(description: "not a chain")
        }
        return chain
    }

    @Test func popsChainsSplitIntoReadableAndWritableParts() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 8)
        let queue = try driver.makeQueue()
        #expect(try queue.pop() == nil)

        let head = driver.add([.readable([1, 2, 3]), .readable([4, 5]), .writable(6), .writable(10)])
        let popped = try chain(try queue.pop())
        #expect(popped.head == head)
        #expect(popped.readableLength == 5)
        #expect(popped.writableLength == 16)
        var bytes = [UInt8](repeating: 0, count: 5)
        #expect(bytes.withUnsafeMutableBytes { popped.read(into: $0) } == 5)
        #expect(bytes == [1, 2, 3, 4, 5])
        // Reads and writes that straddle descriptors.
        var middle = [UInt8](repeating: 0, count: 3)
        #expect(middle.withUnsafeMutableBytes { popped.read(into: $0, from: 2) } == 3)
        #expect(middle == [3, 4, 5])
        let payload: [UInt8] = Array(0..<12)
        #expect(payload.withUnsafeBytes { popped.write($0, at: 2) } == 12)
        queue.push(head: popped.head, length: 14)
        #expect(driver.written(head: head, count: 14) == [0, 0] + Array(0..<12))
        let used = driver.takeUsed()
        #expect(used.count == 1 && used[0].id == UInt32(head) && used[0].length == 14)
        #expect(try queue.pop() == nil)
    }

    @Test func writesBeyondTheChainAreCutShort() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 4)
        let queue = try driver.makeQueue()
        driver.add([.writable(4)])
        let popped = try chain(try queue.pop())
        let payload: [UInt8] = Array(repeating: 7, count: 10)
        #expect(payload.withUnsafeBytes { popped.write($0) } == 4)
    }

    /// The free-running 16-bit indices wrap past 65535 and the ring slots past the ring size.
    @Test(arguments: [UInt16(0), 65530])
    func indicesWrapAround(start: UInt16) throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 4, startIndex: start)
        let queue = try driver.makeQueue()
        var seen: [UInt8] = []
        for round in 0..<20 {
            // Two chains in flight at a time, so slots are reused out of step with descriptors.
            driver.add([.readable([UInt8(2 * round)])])
            driver.add([.readable([UInt8(2 * round + 1)])])
            for _ in 0..<2 {
                let popped = try chain(try queue.pop())
                var byte: [UInt8] = [0]
                _ = byte.withUnsafeMutableBytes { popped.read(into: $0) }
                seen += byte
                queue.push(head: popped.head, length: 0)
            }
            #expect(try queue.pop() == nil)
            #expect(driver.takeUsed().count == 2)
        }
        #expect(seen == Array(0..<40))
        #expect(queue.nextAvailable == start &+ 40)
        #expect(queue.nextUsed == start &+ 40)
    }

    @Test func followsIndirectTablesWhenNegotiated() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 8)
        let queue = try driver.makeQueue(features: VirtqueueFeatures(indirectDescriptors: true))
        let head = driver.add([.readable([9, 8, 7]), .writable(5)], indirect: true)
        let popped = try chain(try queue.pop())
        #expect(popped.head == head)
        #expect(popped.readableLength == 3)
        #expect(popped.writableLength == 5)
    }

    @Test func refusesIndirectTablesWhenNotNegotiated() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 8)
        let queue = try driver.makeQueue(features: VirtqueueFeatures(indirectDescriptors: false))
        let head = driver.add([.readable([1])], indirect: true)
        guard case .malformed(let bad, let reason) = try #require(try queue.pop()) else {
            Issue.record("an indirect chain was accepted without the feature")
            return
        }
        #expect(bad == head)
        #expect(reason.contains("INDIRECT"))
    }

    /// Each broken chain is reported with its head (so it can be returned) and the ring goes on.
    @Test(arguments: ["loop", "outside memory", "readable after writable", "next out of range", "nested indirect",
                      "indirect with next"])
    func reportsMalformedChains(kind: String) throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 8)
        let queue = try driver.makeQueue(features: VirtqueueFeatures(indirectDescriptors: true))
        let data = ram.allocate(16)
        let table = driver.descriptors
        let next = Virtqueue.descriptorNext
        switch kind {
        case "loop":
            driver.writeDescriptor(table: table, index: 0, address: data, length: 4, flags: next, next: 1)
            driver.writeDescriptor(table: table, index: 1, address: data, length: 4, flags: next, next: 0)
        case "outside memory":
            driver.writeDescriptor(table: table, index: 0, address: 0x4000_0000, length: 4, flags: 0, next: 0)
        case "readable after writable":
            driver.writeDescriptor(table: table, index: 0, address: data, length: 4, flags: Virtqueue.descriptorWrite | next, next: 1)
            driver.writeDescriptor(table: table, index: 1, address: data, length: 4, flags: 0, next: 0)
        case "next out of range":
            driver.writeDescriptor(table: table, index: 0, address: data, length: 4, flags: next, next: 99)
        case "nested indirect":
            let inner = ram.allocate(16)
            driver.writeDescriptor(table: inner, index: 0, address: data, length: 16, flags: Virtqueue.descriptorIndirect, next: 0)
            driver.writeDescriptor(table: table, index: 0, address: inner, length: 16, flags: Virtqueue.descriptorIndirect, next: 0)
        default:
            let inner = ram.allocate(16)
            driver.writeDescriptor(table: inner, index: 0, address: data, length: 4, flags: 0, next: 0)
            driver.writeDescriptor(table: table, index: 0, address: inner, length: 16,
                                   flags: Virtqueue.descriptorIndirect | next, next: 1)
        }
        driver.publishHead(0)
        guard case .malformed(let head, _) = try #require(try queue.pop()) else {
            Issue.record("\(kind): the chain was accepted")
            return
        }
        #expect(head == 0)
        queue.push(head: head, length: 0)
        // A good chain after the bad one still goes through.
        driver.writeDescriptor(table: table, index: 3, address: data, length: 4, flags: 0, next: 0)
        driver.publishHead(3)
        #expect(try chain(try queue.pop()).head == 3)
    }

    @Test func anAvailableIndexTooFarAheadBreaksTheRing() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 4)
        let queue = try driver.makeQueue()
        driver.store(9, at: driver.available + 2)
        #expect(throws: VirtqueueError.self) { try queue.pop() }
    }

    @Test func aHeadOutsideTheTableBreaksTheRing() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 4)
        let queue = try driver.makeQueue()
        driver.publishHead(17)
        #expect(throws: VirtqueueError.self) { try queue.pop() }
    }

    @Test func ringsOutsideTheMemoryTableAreRefused() {
        let ram = FakeGuestRAM()
        #expect(throws: VirtqueueError.self) {
            try Virtqueue(memory: ram.memory, size: 8, descriptorsAt: 0x1000, availableAt: FakeGuestRAM.qemuBase,
                          usedAt: FakeGuestRAM.qemuBase + 0x1000, features: VirtqueueFeatures(), nextAvailable: 0)
        }
        #expect(throws: VirtqueueError.self) {
            try Virtqueue(memory: ram.memory, size: 6, descriptorsAt: FakeGuestRAM.qemuBase, availableAt: FakeGuestRAM.qemuBase,
                          usedAt: FakeGuestRAM.qemuBase, features: VirtqueueFeatures(), nextAvailable: 0)
        }
    }

    @Test func withoutEventIndexTheNoInterruptFlagDecides() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 4)
        let queue = try driver.makeQueue()
        driver.add([.writable(8)])
        let popped = try chain(try queue.pop())
        queue.push(head: popped.head, length: 0)
        #expect(queue.needsInterrupt())
        driver.setAvailableFlags(1)  // VRING_AVAIL_F_NO_INTERRUPT
        #expect(!queue.needsInterrupt())
    }

    @Test func withEventIndexTheDriversUsedEventDecides() throws {
        let ram = FakeGuestRAM()
        let driver = GuestRingDriver(ram: ram, size: 8)
        let queue = try driver.makeQueue(features: VirtqueueFeatures(eventIndex: true))
        func complete(_ count: Int) throws {
            for _ in 0..<count {
                driver.add([.writable(8)])
                let popped = try chain(try queue.pop())
                queue.push(head: popped.head, length: 0)
            }
        }
        try complete(1)
        #expect(queue.needsInterrupt())           // the first interrupt is always sent
        driver.setUsedEvent(3)                     // "interrupt me once used.idx passes 3"
        try complete(1)                            // used.idx 2
        #expect(!queue.needsInterrupt())
        try complete(2)                            // used.idx 4: crossed 3
        #expect(queue.needsInterrupt())
        try complete(1)
        #expect(!queue.needsInterrupt())           // 3 is behind us now

        // Kick suppression: the device asks to be kicked at its next available index.
        #expect(!queue.armKick())
        #expect(driver.availEvent == queue.nextAvailable)
        driver.add([.writable(8)])
        #expect(queue.armKick())                   // a chain arrived: keep consuming instead of sleeping
    }

    @Test(arguments: [
        (UInt16(5), UInt16(6), UInt16(5), true),    // event just passed
        (5, 5, 4, false),                           // not yet
        (5, 10, 6, false),                          // already behind the previous notification
        (65535, 2, 65534, true),                    // across the wrap
        (1, 1, 1, false),                           // nothing new
    ])
    func needEventMatchesLinux(event: UInt16, new: UInt16, old: UInt16, expected: Bool) {
        #expect(Virtqueue.needEvent(event, new: new, old: old) == expected)
    }
}

extension AvailableBuffer: Equatable {
    public static func == (a: AvailableBuffer, b: AvailableBuffer) -> Bool {
        switch (a, b) {
        case (.chain(let x), .chain(let y)): return x.head == y.head
        case (.malformed(let x, let r), .malformed(let y, let s)): return x == y && r == s
        default: return false
        }
    }
}
