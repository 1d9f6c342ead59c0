// Which QEMU accelerator a boot uses. `auto` tries KVM and falls back to TCG: /dev/kvm can exist, open
// and even pass QEMU's own initialisation on hosts (nested virtualisation without VMX, as on our CI) where
// the vCPU then never runs a guest instruction. So KVM counts as working only once the guest has written
// to its console; a KVM boot that stays silent for `kvmSilenceLimit` is killed and redone under TCG.
import GuestSys

/// The accelerator asked for.
public enum AcceleratorChoice: String, Sendable, CaseIterable {
    case auto, kvm, tcg

    /// How long a KVM boot may stay silent before `auto` gives up on it (a KVM guest prints its first
    /// kernel line within milliseconds).
    public static let kvmSilenceLimit: Duration = .seconds(5)

    /// The accelerators to try, in order.
    public var attempts: [String] {
        switch self {
        case .kvm: return ["kvm"]
        case .tcg: return ["tcg"]
        case .auto: return Self.kvmDeviceUsable ? ["kvm", "tcg"] : ["tcg"]
        }
    }

    /// /dev/kvm exists and opens read-write (the first thing QEMU needs).
    public static var kvmDeviceUsable: Bool {
        guard let fd = try? FileDescriptor.open("/dev/kvm", .readWrite) else { return false }
        fd.closeQuietly()
        return true
    }
}
