// IPv4 and IPv6 addresses to and from text, as the C library reads and writes them (inet_pton,
// inet_ntop): dotted quads without leading zeros, RFC 4291 text for IPv6 and RFC 5952's canonical form out.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Text forms of IPv4 and IPv6 addresses.
public enum InternetAddressText {
    /// The 4 bytes of an IPv4 address or the 16 of an IPv6 address written as `text`; nil when it is neither.
    public static func parse(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 64, !text.utf8.contains(0) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        let family = text.contains(":") ? AF_INET6 : AF_INET
        let parsed = bytes.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        guard parsed == 1 else { return nil }
        return family == AF_INET ? Array(bytes.prefix(4)) : bytes
    }

    /// The text of a 4- or 16-byte address; nil for any other length.
    public static func format(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var text = [CChar](repeating: 0, count: 64)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { address in
            text.withUnsafeMutableBufferPointer { inet_ntop(family, address.baseAddress, $0.baseAddress, 64) }
        }
        guard written != nil else { return nil }
        return decodeCString(text)
    }
}
