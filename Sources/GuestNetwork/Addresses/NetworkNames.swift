// The names a network request carries, checked as the kernel and the C library's resolver check them,
// so a bad one is refused by name before anything changes.

/// Interface names as the kernel accepts them (dev_valid_name in net/core/dev.c).
public enum InterfaceName {
    /// IFNAMSIZ less the terminating NUL.
    public static let maximumLength = 15

    /// Nil when `name` is valid; else why not.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maximumLength { return "is longer than \(maximumLength) bytes" }
        if name == "." || name == ".." { return "is \".\" or \"..\"" }
        if name.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7F }) {
            return "contains a slash, colon, space or control character"
        }
        return nil
    }
}

/// Domain names and host names (RFC 1123 labels, with the underscore resolvers tolerate).
public enum DomainName {
    /// The longest name the resolver takes (NS_MAXDNAME less the root), and a host name's limit (HOST_NAME_MAX).
    public static let maximumLength = 253
    public static let maximumHostNameLength = 64

    /// Nil when `name` is a valid domain name (an optional trailing dot allowed); else why not.
    public static func problem(_ name: String, maximumLength: Int = maximumLength) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maximumLength { return "is longer than \(maximumLength) bytes" }
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty { return "has an empty label" }
            if label.utf8.count > 63 { return "has a label longer than 63 bytes" }
            if label.hasPrefix("-") || label.hasSuffix("-") { return "has a label starting or ending with \"-\"" }
            let allowed = label.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
            if !allowed { return "has a character other than letters, digits, \"-\" and \"_\"" }
        }
        return nil
    }
}
