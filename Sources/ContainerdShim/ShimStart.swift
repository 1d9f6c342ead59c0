import ContentHash
import Foundation
import GuestSys

/// The `start` action: makes the server's listening socket, starts the server detached from containerd
/// (its own session, no inherited output: containerd reads this process's stdout *and* stderr until both
/// close, and takes all of it as the address), records the address in the bundle, and returns it.
public enum ShimStart {
    /// Where shims' sockets live, as runc's and Kata's shims put them.
    static let socketDirectory = "/run/containerd/s"

    /// Starts the server for `arguments` (the bundle is the working directory) and returns its address,
    /// `unix:///run/containerd/s/<sha256 of containerd's address, namespace and id>`.
    public static func run(_ arguments: ShimArguments) throws(ShimError) -> String {
        let bundle = FileManager.default.currentDirectoryPath
        let path = socketPath(containerdAddress: arguments.address, namespace: arguments.namespace, id: arguments.id)
        let address = "unix://" + path
        do throws(SysError) {
            try FileSystem.makeDirectories(socketDirectory, mode: 0o711)
        } catch {
            throw .system(error)
        }
        // A server already answering on this address serves this task: containerd may call start again
        // after its own restart.
        if let live = try? Sockets.connect(.unix(path)) {
            live.closeQuietly()
            try writeAddress(address, bundle: bundle)
            return address
        }
        try? FileSystem.unlink(path)
        let listener: FileDescriptor
        do throws(SysError) {
            listener = try Sockets.listen(.unix(path), backlog: 64, nonBlocking: false)
            try FileSystem.changeMode(path, 0o600)
        } catch {
            throw .system(error)
        }
        defer { listener.closeQuietly() }
        let executable: String
        do throws(SysError) {
            executable = try FileSystem.readLink("/proc/self/exe")
        } catch {
            throw .system(error)
        }
        do {
            let null = try FileDescriptor.open("/dev/null", .readWrite)
            defer { null.closeQuietly() }
            var request = SpawnRequest(
                path: executable, arguments: [executable] + arguments.serverArguments,
                environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" },
                workingDirectory: bundle, descriptors: [0: null, 1: null, 2: null, 3: listener])
            request.newSession = true
            _ = try Spawner.spawn(request)
        } catch let error as SpawnError {
            try? FileSystem.unlink(path)
            throw .system("cannot start the shim server \(executable): \(error)")
        } catch {
            try? FileSystem.unlink(path)
            throw .system("cannot start the shim server \(executable): \(error)")
        }
        try writeAddress(address, bundle: bundle)
        return address
    }

    /// runc's rule (containerd's shim.SocketAddress): the digest of `<address>/<namespace>/<id>`, which keeps
    /// the path at 82 bytes whatever the names.
    static func socketPath(containerdAddress: String, namespace: String, id: String) -> String {
        let joined = (containerdAddress as NSString).appendingPathComponent(namespace + "/" + id)
        return socketDirectory + "/" + SHA256Hex.of(text: joined)
    }

    /// containerd reads `<bundle>/address` to reconnect after it restarts.
    static func writeAddress(_ address: String, bundle: String) throws(ShimError) {
        do {
            try Data(address.utf8).write(to: URL(fileURLWithPath: bundle + "/address"), options: .atomic)
        } catch {
            throw .system("cannot write \(bundle)/address: \(error)")
        }
    }
}
