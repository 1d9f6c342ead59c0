// GuestBoot boots a composed guest on the host and hands back a connected agent client: it starts
// guest-vsock-bridge and QEMU from the image's manifest (the same argv `compose-guest launch` prints),
// picks the accelerator, watches the serial console, and shuts the guest down. It owns process lifetimes
// and the boot's host-side timing; image layout and launch lines stay in ComposeImage, the wire in
// GuestClient. `compose-guest boot`, the end-to-end tests and the boot benchmark all go through it.

/// Why a boot failed; each case names what to look at.
public enum BootError: Error, CustomStringConvertible, Sendable {
    case missingProgram(String)
    case badRequest(String)
    /// A child (QEMU or the bridge) ended or hung; the text carries its log or the console's tail.
    case failed(String)

    public var description: String {
        switch self {
        case .missingProgram(let name):
            return "\(name) is not installed (not found in PATH); run `make deps` (Debian: qemu-system-x86)"
        case .badRequest(let text): return text
        case .failed(let text): return text
        }
    }
}
