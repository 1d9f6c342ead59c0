import Foundation
import Glibc
import GuestSys
import HostProcess

/// The long-lived server `start` runs: its log goes to the bundle's `log` FIFO, it serves
/// containerd.task.v2.Task on the socket `start` made (descriptor 3), and it exits after Shutdown once its
/// task is gone. A terminating signal stops its VM (the bridge and QEMU are its children) and undoes its
/// mounts before it ends.
public enum ShimServe {
    public static let listenerDescriptor = FileDescriptor(rawValue: 3)

    public static func run(_ arguments: ShimArguments) throws(ShimError) -> Never {
        let bundle = FileManager.default.currentDirectoryPath
        redirectStandardError(toFIFO: bundle + "/log")
        let log = ShimLog(debug: arguments.debug, id: arguments.id)
        Signal.ignore(Signal.pipe)
        TerminationSignals.install(grace: .seconds(5))
        guard let status = try? listenerDescriptor.status(), status.mode & S_IFMT == S_IFSOCK else {
            throw .usage("descriptor 3 is not the listening socket: the server is started by `start`, not by hand")
        }
        let binary = ((try? FileSystem.readLink("/proc/self/exe")) ?? CommandLine.arguments[0]) as NSString
        let events = EventPublisher(address: ProcessInfo.processInfo.environment["TTRPC_ADDRESS"],
                                    namespace: arguments.namespace, log: log)
        let socket = ShimStart.socketPath(containerdAddress: arguments.address, namespace: arguments.namespace, id: arguments.id)
        let service = TaskService(arguments: arguments, log: log, events: events,
                                  binaryDirectory: binary.deletingLastPathComponent) {
            events.flush()
            try? FileSystem.unlink(socket)
            Processes.exitImmediately(0)
        }
        TerminationSignals.onTermination {
            service.stopAll()
            try? FileSystem.unlink(socket)
        }
        try ShimStateFile.update(bundle: bundle) { _ in }
        log.info("serving task \(arguments.id) of namespace \(arguments.namespace) on \(socket)")
        TTRPCServer(listener: listenerDescriptor, methods: service.methodTable(), log: log).serve()
    }

    /// containerd opened the FIFO's read end before `start`; without a reader the log goes nowhere.
    static func redirectStandardError(toFIFO path: String) {
        guard let fifo = try? FileDescriptor.open(path, [.writeOnly, .nonBlocking]) else { return }
        try? fifo.setNonBlocking(false)
        try? fifo.duplicate(as: .standardError)
        fifo.closeQuietly()
    }
}
