// containerd-shim-guestkit-v1: the containerd runtime shim v2 for io.containerd.guestkit.v1. Parses the
// command line and runs the action (see ContainerdShim).
import ContainerdShim
import GuestSys

let arguments: ShimArguments
do {
    arguments = try ShimArguments(Array(CommandLine.arguments.dropFirst()))
} catch {
    let code: Int32 = { if case .version = error { return 0 } else { return 2 } }()
    try? (code == 0 ? FileDescriptor.standardOutput : FileDescriptor.standardError).writeAll("\(error)\n")
    Processes.exitImmediately(code)
}
do {
    switch arguments.action {
    case .start:
        try FileDescriptor.standardOutput.writeAll(try ShimStart.run(arguments))
    case .delete:
        try FileDescriptor.standardOutput.writeAll(try ShimDelete.run(arguments))
    case .serve:
        try ShimServe.run(arguments)
    }
} catch {
    try? FileDescriptor.standardError.writeAll("containerd-shim-guestkit-v1 \(arguments.action.rawValue): \(error)\n")
    Processes.exitImmediately(1)
}
Processes.exitImmediately(0)
