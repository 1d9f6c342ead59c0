import GuestSys

/// An IPv4 or IPv6 address: 4 or 16 bytes in network order.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address family, with the AF_* value netlink messages carry.
    public enum Family: UInt8, Sendable {
        /// AF_INET.
        case v4 = 2
        /// AF_INET6.
        case v6 = 10

        public var byteCount: Int { self == .v4 ? 4 : 16 }
        public var bitCount: Int { byteCount * 8 }
        public var name: String { self == .v4 ? "IPv4" : "IPv6" }
    }

    public let bytes: [UInt8]

    /// The address `text` names ("192.0.2.1", "2001:db8::1"); nil when it is not one.
    public init?(_ text: String) {
        guard let bytes = InternetAddressText.parse(text) else { return nil }
        self.bytes = bytes
    }

    /// An address from its bytes; nil unless there are 4 or 16.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var family: Family { bytes.count == 4 ? .v4 : .v6 }

    public var description: String { InternetAddressText.format(bytes) ?? "?" }

    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
    /// 224.0.0.0/4 or ff00::/8.
    public var isMulticast: Bool { family == .v4 ? bytes[0] & 0xF0 == 0xE0 : bytes[0] == 0xFF }
    /// fe80::/10 (IPv6 link-local; the kernel makes one per interface from its MAC).
    public var isLinkLocal: Bool { family == .v6 && bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 }
    /// 255.255.255.255.
    public var isLimitedBroadcast: Bool { family == .v4 && bytes.allSatisfy { $0 == 0xFF } }

    /// The address with every bit after the first `length` cleared (the network of a prefix).
    public func masked(to length: Int) -> IPAddress {
        var result = bytes
        for index in result.indices {
            let bitsBefore = index * 8
            if bitsBefore >= length { result[index] = 0 } else if length - bitsBefore < 8 {
                result[index] &= UInt8(truncatingIfNeeded: 0xFF << (8 - (length - bitsBefore)))
            }
        }
        return IPAddress(unchecked: result)
    }

    private init(unchecked bytes: [UInt8]) { self.bytes = bytes }
}
