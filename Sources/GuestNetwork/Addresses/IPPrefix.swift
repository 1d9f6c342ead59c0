/// An address with a prefix length: an interface's address ("192.0.2.2/24") or a route's destination
/// ("192.0.2.0/24", "::/0").
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.family.bitCount else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses "ADDRESS/LENGTH"; a bare address is a host prefix (/32, /128).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        var length = address.family.bitCount
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCIIDigit), let value = Int(digits) else { return nil }
            length = value
        }
        self.init(address: address, length: length)
    }

    public var family: IPAddress.Family { address.family }
    public var description: String { "\(address)/\(length)" }

    /// The prefix's network: the address with its host bits cleared.
    public var network: IPAddress { address.masked(to: length) }
    /// Whether the address has no host bits set (what a route destination must be).
    public var isNetwork: Bool { network == address }
    /// 0.0.0.0/0 or ::/0.
    public var isDefault: Bool { length == 0 }

    /// Whether `other` lies inside this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && other.masked(to: length) == network
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
