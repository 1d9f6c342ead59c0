/// An Ethernet (EUI-48) address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Parses six two-digit hex groups separated by colons ("52:54:00:12:34:56", either case).
    public init?(_ text: String) {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for group in groups {
            guard group.count == 2, group.allSatisfy(\.isHexDigit), let byte = UInt8(group, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// An address from its 6 bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Lower-case, colon-separated, as ip(8) prints it.
    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }

    /// The group bit: a multicast (or broadcast) address, which no interface may have as its own.
    public var isMulticast: Bool { bytes[0] & 1 == 1 }
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }
}
