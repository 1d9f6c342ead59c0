// GuestLaunch starts micro-VMs. It turns a VM description (VirtualMachine: kernel, root disk, vsock, 9p
// shares, NICs, memory, vCPUs, accelerator, console) into the argv or config of each VMM — QEMU q35 and
// microvm, Firecracker, Cloud Hypervisor, kvmtool — and a composed image's manifest into that description
// (LaunchPlanner). It boots and stops a VM with its guest-vsock-bridge under QEMU (RunningGuest): console
// to a file, the accelerator probe, connecting to the agent, power-off with a bounded grace. Children
// run through HostProcess, so a VM never outlives whoever started it. `compose-guest launch` and `boot`,
// the benchmarks, the end-to-end tests and the containerd shim all go through it. It leaves image layout
// and manifests to ComposeImage and the agent's wire to GuestClient.

/// Why a launch could not be planned or a boot failed; each case names what to look at.
public enum LaunchError: Error, CustomStringConvertible, Sendable {
    case missingProgram(String)
    case badRequest(String)
    /// The VMM has no device for what the VM asks (e.g. 9p shares on Firecracker).
    case unsupported(vmm: String, String)
    /// A child (QEMU or the bridge) ended or hung; the text carries its log or the console's tail.
    case failed(String)

    public var description: String {
        switch self {
        case .missingProgram(let name):
            return "\(name) is not installed (not found in PATH); run `make deps` (Debian: qemu-system-x86)"
        case .badRequest(let text): return text
        case let .unsupported(vmm, text): return "\(vmm): \(text)"
        case .failed(let text): return text
        }
    }
}
