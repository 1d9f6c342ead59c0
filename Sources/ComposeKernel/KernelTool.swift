// Running the kernel build's host programs (make, tar, merge_config.sh, gcc --version) through
// HostProcess, with their output in a file, so a long build never blocks on a full pipe and its log
// survives the run. A terminating signal to compose-guest reaches make's process group (see
// TerminationSignals): make deletes its half-written targets and stops its jobs before we exit.
import Foundation
import HostProcess

/// One host program run to completion, with stdout and stderr together in a file.
struct KernelTool {
    let executable: String
    let arguments: [String]
    var directory: URL?
    var environment: [String: String] = [:]

    init(_ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.directory = directory
        self.environment = environment
    }

    var commandLine: String { ([executable] + arguments).joined(separator: " ") }

    var command: ChildCommand {
        var command = ChildCommand(executable, arguments)
        // A parent make's jobserver and flags must not leak into ours (compose-guest runs under `make kernel`).
        for name in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "KCONFIG_CONFIG", "KCONFIG_ALLCONFIG"] {
            command.environment[name] = nil
        }
        command.environment.merge(environment) { $1 }
        command.environment["LC_ALL"] = "C"
        command.workingDirectory = directory?.path
        command.input = .null
        return command
    }

    /// Runs the command with output appended to `log`; `poll` is called about twice a second while it
    /// runs. Returns the exit status (128 + signal when killed by one).
    func run(log: URL, poll: () -> Void = {}) throws(ComposeKernelError) -> Int32 {
        var command = self.command
        command.output = .file(log.path, append: true)
        command.error = .standardOutput
        let child: ChildProcess
        do { child = try ChildProcess(command) } catch {
            throw ComposeKernelError("cannot run \(executable): \(error)")
        }
        while true {
            if let status = child.wait(timeout: .milliseconds(500)) { return status.shellCode }
            poll()
        }
    }

    /// Runs the command and returns its output; throws with the output's tail when it fails.
    func output() throws(ComposeKernelError) -> String {
        var command = self.command
        command.output = .capture
        command.error = .standardOutput
        let result: ChildResult
        do { result = try command.run() } catch {
            throw ComposeKernelError("cannot run \(executable): \(error)")
        }
        guard result.succeeded else {
            let tail = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
            throw ComposeKernelError("\(commandLine) failed (\(result.status)):\n\(tail)")
        }
        return result.stdout
    }
}
