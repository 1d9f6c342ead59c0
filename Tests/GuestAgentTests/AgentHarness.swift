import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport

/// What a finished remote process produced.
struct RunResult {
    var stdout: [UInt8]
    var stderr: [UInt8]
    var status: ProcessExit
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Reads a descriptor to end of file.
func readAll(_ fd: FileDescriptor) throws -> [UInt8] {
    try fd.readToEnd(limit: 1 << 30)
}

/// A StartProcess request for `args`.
func startRequest(_ args: [String], env: [String] = [], cwd: String = "", id: String = "",
                  configure: (inout Guestkit_V1_StartProcessRequest) -> Void = { _ in }) -> Guestkit_V1_StartProcessRequest {
    var request = Guestkit_V1_StartProcessRequest()
    request.args = args
    request.env = env
    request.cwd = cwd
    request.id = id
    configure(&request)
    return request
}

/// Runs a process through the agent with stdout (and stderr unless it has a terminal) attached, optional
/// stdin sent then half-closed, and returns its output and exit status.
func execute(_ client: GuestClient, _ request: Guestkit_V1_StartProcessRequest, stdin: [UInt8]? = nil,
             afterStart: (String) throws -> Void = { _ in }) throws -> RunResult {
    var request = request
    request.stdout = true
    request.stderr = !request.terminal
    request.stdin = stdin != nil
    let started = try client.startProcess(request)
    let out = try client.attach(started.id, .stdout)
    defer { out.closeQuietly() }
    let err = request.stderr ? try client.attach(started.id, .stderr) : nil
    defer { err?.closeQuietly() }
    if let stdin {
        let input = try client.attach(started.id, .stdin)
        Thread.detachNewThread {
            try? input.writeAll(stdin)
            try? Sockets.shutdown(input, .write)
            input.closeQuietly()
        }
    }
    try afterStart(started.id)
    let stderrBytes = Locked<[UInt8]>([])
    let done = DispatchSemaphore(value: 0)
    if let err {
        Thread.detachNewThread {
            stderrBytes.set((try? readAll(err)) ?? [])
            done.signal()
        }
    } else {
        done.signal()
    }
    let stdoutBytes = try readAll(out)
    done.wait()
    let status = try client.wait(started.id)
    return RunResult(stdout: stdoutBytes, stderr: stderrBytes.get(), status: status)
}

/// The agent's own open descriptors (from /proc), to show nothing leaks.
func openDescriptors(of pid: Int32) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
}

/// Skips unless root: user switching and RLIMIT raises need it. CI runs as root, so these run there.
let isRoot = getuid() == 0
