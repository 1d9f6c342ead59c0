// LocalContainerd: Debian's containerd run privately for the shim's tests and benches, so neither touches the
// machine's own containerd (its socket, root, state, opt directory and config all live under one directory).
import Foundation
import HostProcess

/// Debian's containerd with its own root, state, socket and config under `directory` (the CRI plugin off),
/// a given shim first on its PATH as `containerd-shim-guestkit-v1`, configured through GUESTKIT_SHIM_CONFIG.
public final class LocalContainerd: @unchecked Sendable {
    // Immutable after init.
    public let directory: String
    public let socket: String
    public let logPath: String
    public let shimConfigPath: String
    public let process: ChildProcess

    /// Starts containerd and waits (up to `startTimeout`) until `ctr version` answers on its socket.
    public init(directory: String, shim: String, shimConfig: String, startTimeout: Duration = .seconds(30)) throws {
        self.directory = directory
        socket = directory + "/containerd.sock"
        logPath = directory + "/containerd.log"
        shimConfigPath = directory + "/shim.toml"
        let fm = FileManager.default
        let bin = directory + "/bin"
        try fm.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // containerd looks the shim up on its own PATH: a link to the given binary comes first.
        try fm.createSymbolicLink(atPath: bin + "/containerd-shim-guestkit-v1", withDestinationPath: shim)
        try shimConfig.write(toFile: shimConfigPath, atomically: true, encoding: .utf8)
        try """
            version = 2
            root = "\(directory)/root"
            state = "\(directory)/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(socket)"
            [plugins."io.containerd.internal.v1.opt"]
              path = "\(directory)/opt"
            """.write(toFile: directory + "/config.toml", atomically: true, encoding: .utf8)
        guard let containerd = ChildCommand("containerd").executablePath() else {
            throw LocalContainerdError("containerd is not on PATH; install Debian's containerd (make deps does)")
        }
        var command = ChildCommand(containerd, ["--config", directory + "/config.toml", "--log-level", "debug"])
        command.environment["PATH"] = bin + ":" + (command.environment["PATH"] ?? "/usr/bin:/bin")
        command.environment["GUESTKIT_SHIM_CONFIG"] = shimConfigPath
        command.output = .file(logPath, append: true)
        command.error = .standardOutput
        command.lifetime = .seconds(3600)
        process = try ChildProcess(command)
        let deadline = ContinuousClock.now + startTimeout
        while (try? ctr(["version"], timeout: .seconds(5)))?.succeeded != true {
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.stop(grace: .seconds(5))
                throw LocalContainerdError("containerd did not come up within \(startTimeout) on \(socket):\n\(log.suffix(4000))")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// `ctr --address SOCKET ARGS…`, its output captured; `input` is its standard input.
    public func ctr(_ arguments: [String], input: [UInt8]? = nil, timeout: Duration? = nil) throws -> ChildResult {
        var command = ChildCommand("ctr", ["--address", socket] + arguments)
        command.input = input.map { .bytes($0) } ?? .null
        command.output = .capture
        command.error = .capture
        return try command.run(timeout: timeout)
    }

    /// Everything containerd (and the shims it started, through its log) wrote so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The log's size now: an offset for `log(from:)`.
    public var logSize: UInt64 { (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? UInt64) ?? 0 }

    /// What the log gained after `offset`.
    public func log(from offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Stops containerd (SIGTERM, then SIGKILL after `grace`); the shims end with their tasks.
    public func stop(grace: Duration = .seconds(10)) { process.stop(grace: grace) }

    deinit { process.stop(grace: .seconds(10)) }
}

/// Starting the private containerd failed.
public struct LocalContainerdError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
