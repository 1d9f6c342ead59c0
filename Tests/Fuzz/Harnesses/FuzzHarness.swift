// The libFuzzer harnesses: each takes one input (bytes chosen by the fuzzer) to a parser or state machine
// that reads untrusted bytes, and checks what must hold whatever the input. A crash, a trap (overflow,
// index out of range, failed precondition) or an AddressSanitizer report is a bug. The same functions run
// under libFuzzer (`make fuzz`, Tests/Fuzz/guestkit-fuzz) and over the committed corpus in a plain test
// build (FuzzCorpusTests), so every crash input once added to Tests/Fuzz/corpus/<harness>/ stays a test.

import VsockBridge

/// One fuzz target; the raw value names its corpus directory.
public enum FuzzHarness: String, CaseIterable, Sendable {
    /// ttRPC frame decoding (FrameDecoder, FrameHeader) fed in arbitrary chunks.
    case ttrpcFrames = "ttrpc-frames"
    /// The agent's request path without a socket: frames → MethodTable with every guestkit.v1.Agent
    /// method and its real request type → StartProcess's LaunchPlan, error-to-status mapping, accounts.
    case agentDispatch = "agent-dispatch"
    /// Guest vsock packets into the muxer and a connection state machine with a scripted host side.
    case vsockPackets = "vsock-packets"
    /// Split virtqueues over guest memory the input fills: descriptor chains (indirect, loops, bounds)
    /// and the vsock device's tx/rx processing of them.
    case descriptorChains = "descriptor-chains"
    /// vhost-user messages from a hostile front-end, with descriptors where requests expect them.
    case vhostUser = "vhost-user"
    /// The kernel command line, guest.* options, init's own arguments, control lines and mount tables.
    case kernelCommandLine = "kernel-cmdline"
    /// ELF executables and libraries compose-guest installs (headers, program headers, dynamic section).
    case elf
    /// tar base layers, streamed (ustar, base-256, pax, GNU long names, lying sizes).
    case tar
    /// The newc cpio writer on a tree the input builds, read back by an independent parser.
    case cpio

    /// Runs the harness on one input.
    public func run(_ input: UnsafeRawBufferPointer) {
        switch self {
        case .ttrpcFrames: TTRPCFrameHarness.run(FuzzInput(input))
        case .agentDispatch: AgentDispatchHarness.run(FuzzInput(input))
        case .vsockPackets: VsockPacketHarness.run(FuzzInput(input))
        case .descriptorChains: DescriptorChainHarness.run(FuzzInput(input))
        case .vhostUser: VhostUserHarness.run(FuzzInput(input))
        case .kernelCommandLine: KernelCommandLineHarness.run(FuzzInput(input))
        case .elf: ELFHarness.run(FuzzInput(input))
        case .tar: TarHarness.run(FuzzInput(input))
        case .cpio: CpioHarness.run(FuzzInput(input))
        }
    }

    /// The event loop the bridge harnesses register descriptors with (never run: nothing waits).
    // Harnesses run one input at a time (libFuzzer calls them on one thread; FuzzCorpusTests is
    // serialized), so the loop is never used from two threads at once.
    nonisolated(unsafe) static let eventLoop: EventLoop? = try? EventLoop()

    /// Inputs that start a corpus: well-formed examples the fuzzer mutates from.
    public var seeds: [[UInt8]] {
        switch self {
        case .ttrpcFrames: return TTRPCFrameHarness.seeds
        case .agentDispatch: return AgentDispatchHarness.seeds
        case .vsockPackets: return VsockPacketHarness.seeds
        case .descriptorChains: return DescriptorChainHarness.seeds
        case .vhostUser: return VhostUserHarness.seeds
        case .kernelCommandLine: return KernelCommandLineHarness.seeds
        case .elf: return ELFHarness.seeds
        case .tar: return TarHarness.seeds
        case .cpio: return CpioHarness.seeds
        }
    }
}

/// A cursor over the fuzzer's bytes: harnesses take the choices they need from the front (a byte for a
/// mode, a little-endian integer, a length-prefixed slice) and get zeros once it runs out, so every input
/// is a valid script.
public struct FuzzInput {
    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ raw: UnsafeRawBufferPointer) { bytes = Array(raw) }
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isEmpty: Bool { offset >= bytes.count }
    public var remaining: Int { max(0, bytes.count - offset) }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }
    public mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
    public mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }
    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// Up to `count` bytes (fewer at the end).
    public mutating func take(_ count: Int) -> [UInt8] {
        let n = min(max(0, count), remaining)
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// A slice whose length is the next byte (or u16 when `long`).
    public mutating func slice(long: Bool = false) -> [UInt8] { take(long ? Int(u16()) : Int(byte())) }

    /// Everything left.
    public mutating func rest() -> [UInt8] { take(remaining) }
}

/// A broken invariant: crashes on purpose so libFuzzer (or the corpus test) reports it with the input.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}
