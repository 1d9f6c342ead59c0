/// Where the root filesystem is, as `guest.root=` names it.
public enum RootSpec: Equatable, Sendable, CustomStringConvertible {
    case path(String)
    case label(String)
    case uuid(String)
    case partitionUUID(String)

    /// Parses `/dev/…`, `LABEL=…`, `UUID=…` or `PARTUUID=…`; nil for anything else.
    public init?(_ text: String) {
        func after(_ prefix: String) -> String? {
            guard text.count > prefix.count, text.uppercased().hasPrefix(prefix) else { return nil }
            var value = text.dropFirst(prefix.count)
            // blkid prints LABEL="x"; accept that spelling too.
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
            return value.isEmpty ? nil : String(value)
        }
        if text.hasPrefix("/") && text.count > 1 {
            self = .path(text)
        } else if let label = after("LABEL=") {
            self = .label(label)
        } else if let uuid = after("UUID=") {
            self = .uuid(uuid.lowercased())
        } else if let uuid = after("PARTUUID=") {
            self = .partitionUUID(uuid.lowercased())
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .path(let path): return path
        case .label(let label): return "LABEL=" + label
        case .uuid(let uuid): return "UUID=" + uuid
        case .partitionUUID(let uuid): return "PARTUUID=" + uuid
        }
    }
}

/// Whether the root gets a writable tmpfs layer on top (`guest.overlay=`).
public enum OverlayMode: String, Sendable, CaseIterable {
    case none, tmpfs
}

/// Which VMM is told that the guest is ready (`guest.boot_timer=`).
public enum BootTimerKind: String, Sendable, CaseIterable {
    case none, firecracker
    case cloudHypervisor = "cloud-hypervisor"
}

/// Everything guest-init takes from the kernel command line. The `guest.*` options are guest-init's
/// own; `root=`, `rootfstype=` and `rootflags=` are read only to report a root the kernel mounted.
/// Repeated options: the last one wins, except `guest.modules`, whose lists add up. Unknown `guest.*`
/// keys and bad values are collected in `warnings` (logged, never fatal: a typo must not stop a boot).
/// As in the kernel, `-` and `_` are the same in option names.
public struct BootOptions: Equatable, Sendable {
    public var root: RootSpec?
    public var rootFilesystem: String?
    public var dax: DaxPolicy = .auto
    public var overlay: OverlayMode = .none
    public var modules: [String] = []
    public var agentPath = "/sbin/guest-agent"
    public var agentPort: UInt32 = 1024
    public var logLevel: LogLevel = .info
    public var bootTimer: BootTimerKind = .none
    /// Firecracker's boot-timer MMIO address: 0xc0000000 on x86 with the PCI-capable memory layout.
    public var bootTimerAddress: UInt64 = 0xC000_0000
    public var rescue = false
    public var hostname: String?
    public var rootWaitMilliseconds: UInt64 = 5000
    public var shutdownGraceMilliseconds: UInt64 = 2000
    /// The kernel's own `root=`, `rootfstype=`, `rootflags=`.
    public var kernelRoot: String?
    public var kernelRootFilesystem: String?
    public var kernelRootFlags: String?
    public var warnings: [String] = []

    /// The longest `guest.root_wait` and `guest.shutdown_grace` accepted: a day. Longer is a typo, and
    /// would overflow the arithmetic that turns it into a deadline (a trap in PID 1 panics the kernel).
    public static let maximumWaitMilliseconds: UInt64 = 86_400_000

    public init() {}

    /// Reads the options from a command line (the text of /proc/cmdline).
    public init(commandLine: String) {
        for parameter in KernelCommandLine.parameters(commandLine) {
            apply(parameter)
        }
    }

    private mutating func apply(_ parameter: KernelParameter) {
        let key = String(parameter.key.map { $0 == "-" ? "_" : $0 })
        let value = parameter.value ?? ""
        switch key {
        case "root": kernelRoot = parameter.value
        case "rootfstype": kernelRootFilesystem = parameter.value
        case "rootflags": kernelRootFlags = parameter.value
        case "guest.root":
            if value.isEmpty {
                root = nil
            } else if let spec = RootSpec(value) {
                root = spec
            } else {
                warn(parameter, "expected /dev/NAME, LABEL=, UUID= or PARTUUID=; no root will be mounted")
                root = nil
            }
        case "guest.rootfstype": rootFilesystem = value.isEmpty ? nil : value
        case "guest.dax": dax = choice(parameter, DaxPolicy.self) ?? dax
        case "guest.overlay": overlay = choice(parameter, OverlayMode.self) ?? overlay
        case "guest.modules":
            for name in value.split(separator: ",") where !name.isEmpty {
                let module = String(name)
                if !modules.contains(module) { modules.append(module) }
            }
        case "guest.agent":
            if value.hasPrefix("/") { agentPath = value } else { warn(parameter, "expected an absolute path") }
        case "guest.agent_port":
            if let port = UInt32(value), port > 0, port < UInt32.max { agentPort = port } else {
                warn(parameter, "expected a port number from 1 to 4294967294")
            }
        case "guest.log":
            if let level = LogLevel(name: value) { logLevel = level } else {
                warn(parameter, "expected error, warn, info or debug")
            }
        case "guest.boot_timer": bootTimer = choice(parameter, BootTimerKind.self) ?? bootTimer
        case "guest.boot_timer_addr":
            if let address = Self.number(value) { bootTimerAddress = address } else {
                warn(parameter, "expected an address such as 0xc0000000")
            }
        case "guest.rescue":
            if let on = Self.flag(parameter.value) { rescue = on } else { warn(parameter, "expected 1 or 0") }
        case "guest.hostname":
            if value.isEmpty || value.utf8.count > 64 || value.contains("/") {
                warn(parameter, "expected a host name of 1 to 64 characters")
            } else {
                hostname = value
            }
        case "guest.root_wait":
            if let ms = duration(parameter, example: "5, 2.5 or 500ms") { rootWaitMilliseconds = ms }
        case "guest.shutdown_grace":
            if let ms = duration(parameter, example: "2, 0.5 or 500ms") { shutdownGraceMilliseconds = ms }
        default:
            if key.hasPrefix("guest.") {
                warnings.append("unknown option \(Self.text(parameter)) ignored")
            }
        }
    }

    private mutating func choice<T: RawRepresentable & CaseIterable>(_ parameter: KernelParameter, _: T.Type) -> T?
        where T.RawValue == String
    {
        if let value = parameter.value, let choice = T(rawValue: value.lowercased()) { return choice }
        warn(parameter, "expected " + T.allCases.map(\.rawValue).joined(separator: ", "))
        return nil
    }

    /// A duration option within 0…`maximumWaitMilliseconds`; nil (and a warning) otherwise.
    private mutating func duration(_ parameter: KernelParameter, example: String) -> UInt64? {
        guard let ms = Self.milliseconds(parameter.value ?? "") else {
            warn(parameter, "expected seconds such as \(example)")
            return nil
        }
        guard ms <= Self.maximumWaitMilliseconds else {
            warn(parameter, "out of range (at most \(Self.maximumWaitMilliseconds / 1000) s)")
            return nil
        }
        return ms
    }

    private mutating func warn(_ parameter: KernelParameter, _ expectation: String) {
        warnings.append("\(Self.text(parameter)): \(expectation); keeping the default")
    }

    private static func text(_ parameter: KernelParameter) -> String {
        parameter.value.map { parameter.key + "=" + $0 } ?? parameter.key
    }

    /// `1/0`, `yes/no`, `true/false`, `on/off`; a bare flag means on.
    static func flag(_ value: String?) -> Bool? {
        guard let value else { return true }
        switch value.lowercased() {
        case "1", "yes", "true", "on", "": return true
        case "0", "no", "false", "off": return false
        default: return nil
        }
    }

    /// Decimal or 0x-prefixed hexadecimal.
    static func number(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return UInt64(lower.dropFirst(2), radix: 16) }
        return UInt64(lower)
    }

    /// "5" and "5s" are seconds, "2.5" allows up to three decimals, "500ms" is milliseconds.
    static func milliseconds(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        if lower.hasSuffix("ms") { return UInt64(lower.dropLast(2)) }
        let seconds = lower.hasSuffix("s") ? String(lower.dropLast()) : lower
        let parts = seconds.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = UInt64(parts[0].isEmpty ? "0" : parts[0]) else { return nil }
        var fraction: UInt64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, let f = UInt64(digits) else { return nil }
            fraction = f * [100, 10, 1][digits.count - 1]
        }
        let (ms, overflow) = whole.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return nil }
        let (total, carry) = ms.addingReportingOverflow(fraction)
        return carry ? nil : total
    }
}
