import Foundation

/// Everything that can stop a composition, each case worded to say what failed, on what, and what to do.
public enum ComposeError: Error, CustomStringConvertible, Equatable {
    /// An input path that does not exist or cannot be read.
    case unreadableInput(role: String, path: String, reason: String)
    /// A file given where an ELF executable is needed.
    case notELF(role: String, path: String, reason: String)
    /// A DT_NEEDED entry the loader could not find; `searched` lists the directories tried.
    case unresolvedLibrary(library: String, neededBy: String, searched: [String])
    /// The requested image size cannot hold the content.
    case imageTooSmall(requested: UInt64, needed: UInt64)
    /// A spec file that is not valid YAML or has a wrong key or value.
    case badSpec(file: String, line: Int, key: String, message: String)
    /// A command-line or spec value that makes no sense.
    case badOption(String)
    /// A base image (directory, tar, OCI layout) that could not be applied.
    case badBase(path: String, reason: String)
    /// Kernel modules that could not be found or copied.
    case badModules(String)
    /// An external tool (mke2fs, mkfs.erofs, debugfs, depmod, gzip, zstd) failed.
    case toolFailed(tool: String, arguments: [String], status: Int32, output: String)
    /// A filesystem operation on the staging tree or output failed.
    case io(operation: String, path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadableInput(role, path, reason):
            return "\(role) \(path): \(reason)"
        case let .notELF(role, path, reason):
            return "\(role) \(path) is not an ELF executable (\(reason)); pass the built binary, not a script or archive"
        case let .unresolvedLibrary(library, neededBy, searched):
            return "\(neededBy) needs \(library), which the loader would not find (searched: "
                + (searched.isEmpty ? "nothing" : searched.joined(separator: ", "))
                + "); install it or add its directory to RUNPATH or /etc/ld.so.conf"
        case let .imageTooSmall(requested, needed):
            return "image size \(ByteCount.format(requested)) is too small for the content (needs about "
                + "\(ByteCount.format(needed))); raise --size or leave it out to size automatically"
        case let .badSpec(file, line, key, message):
            return "\(file):\(line): \(key.isEmpty ? "" : "key '\(key)': ")\(message)"
        case let .badOption(message):
            return message
        case let .badBase(path, reason):
            return "base \(path): \(reason)"
        case let .badModules(message):
            return "modules: \(message)"
        case let .toolFailed(tool, arguments, status, output):
            let tail = output.split(separator: "\n").suffix(6).joined(separator: "\n")
            return "\(tool) \(arguments.joined(separator: " ")) exited with status \(status)"
                + (tail.isEmpty ? "" : ":\n\(tail)")
        case let .io(operation, path, reason):
            return "\(operation) \(path): \(reason)"
        }
    }
}

/// Byte counts as people read them (MiB with one decimal).
public enum ByteCount {
    public static let mebibyte: UInt64 = 1 << 20

    public static func format(_ bytes: UInt64) -> String {
        if bytes < 1 << 20 { return "\(bytes) bytes" }
        return String(format: "%.1f MiB", Double(bytes) / Double(mebibyte))
    }

    /// Parses `64M`, `64MiB`, `1G`, `4096` (bytes), `512K`.
    public static func parse(_ text: String) -> UInt64? {
        var digits = text.trimmingCharacters(in: .whitespaces)
        var unit: UInt64 = 1
        for (suffixes, scale) in [(["KiB", "K", "k"], UInt64(1) << 10), (["MiB", "M", "m"], UInt64(1) << 20),
                                  (["GiB", "G", "g"], UInt64(1) << 30)] {
            if let suffix = suffixes.first(where: { digits.hasSuffix($0) }) {
                digits.removeLast(suffix.count)
                unit = scale
                break
            }
        }
        guard let value = UInt64(digits), value.multipliedReportingOverflow(by: unit).overflow == false else { return nil }
        return value * unit
    }

    public static func roundUp(_ value: UInt64, to alignment: UInt64) -> UInt64 {
        (value + alignment - 1) / alignment * alignment
    }
}
