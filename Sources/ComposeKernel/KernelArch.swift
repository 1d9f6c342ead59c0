// The architectures compose-guest configures, and what each means to Kbuild.

/// A guest architecture: its `ARCH=` for make, the directory under `arch/`, and the image it boots.
public enum KernelArch: String, CaseIterable, Sendable {
    case x86_64
    case arm64

    /// Accepts the usual spellings (`amd64`, `aarch64`).
    public init(parsing text: String) throws(ComposeKernelError) {
        switch text.lowercased() {
        case "x86_64", "x86-64", "amd64", "x86": self = .x86_64
        case "arm64", "aarch64": self = .arm64
        default: throw ComposeKernelError("unknown architecture '\(text)'; use x86_64 or arm64")
        }
    }

    /// `ARCH=` for make (x86_64 rather than x86, so 64BIT is fixed rather than asked).
    public var makeArch: String { rawValue }

    /// The `$(SRCARCH)` Kconfig sources: `arch/<srcArch>/Kconfig`.
    public var srcArch: String {
        switch self {
        case .x86_64: "x86"
        case .arm64: "arm64"
        }
    }

    /// The compressed or raw boot image make builds, relative to the build directory.
    public var bootImage: (target: String, path: String) {
        switch self {
        case .x86_64: ("bzImage", "arch/x86/boot/bzImage")
        case .arm64: ("Image", "arch/arm64/boot/Image")
        }
    }

    /// The cross-compiler prefix Debian's cross toolchains use, for building on another host.
    public var debianCrossPrefix: String {
        switch self {
        case .x86_64: "x86_64-linux-gnu-"
        case .arm64: "aarch64-linux-gnu-"
        }
    }

    /// The architecture of the machine running compose-guest.
    public static var host: KernelArch? {
        #if arch(x86_64)
        return .x86_64
        #elseif arch(arm64)
        return .arm64
        #else
        return nil
        #endif
    }
}
