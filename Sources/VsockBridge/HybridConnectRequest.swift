// Firecracker's hybrid vsock handshake on the host socket (Firecracker docs/vsock.md; Cloud Hypervisor
// and rust-vmm's vhost-device-vsock speak the same): a host client connects to the Unix socket, writes
// `CONNECT <port>\n`, and reads `OK <hostport>\n` once the guest has accepted, where <hostport> is the
// host-side port of the new vsock connection. If the guest refuses, the socket is closed unanswered.
import GuestSys

/// The parsed first line of a host client.
public enum HybridRequest: Equatable, Sendable {
    case connect(port: UInt32)

    /// The longest line accepted; anything longer is not a CONNECT line.
    public static let maximumLineLength = 64

    /// Parses one line without its newline: `CONNECT <port>` with a decimal u32 port. A trailing CR is
    /// tolerated (clients written for a terminal); anything else is an error naming what was wrong.
    public static func parse(_ line: String) -> Result<HybridRequest, HybridRequestError> {
        var text = Substring(line)
        if text.hasSuffix("\r") { text = text.dropLast() }
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2, words[0] == "CONNECT" else {
            return .failure(HybridRequestError(line: line, problem: "expected `CONNECT <port>`"))
        }
        guard !words[1].isEmpty, words[1].allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt32(words[1]) else {
            return .failure(HybridRequestError(line: line, problem: "port `\(words[1])` is not a number from 0 to 4294967295"))
        }
        return .success(.connect(port: port))
    }

    /// The reply to a successful CONNECT.
    public static func okLine(hostPort: UInt32) -> String { "OK \(hostPort)\n" }
}

/// A first line that is not a valid hybrid vsock request.
public struct HybridRequestError: Error, Equatable, CustomStringConvertible {
    public let line: String
    public let problem: String
    public var description: String { "bad hybrid vsock request \(line.debugDescription): \(problem)" }
}

/// A host client that has connected but not yet finished its CONNECT line.
final class PendingHybridClient {
    let fd: FileDescriptor
    let deadline: UInt64
    private var line: [UInt8] = []

    init(fd: FileDescriptor, deadline: UInt64) {
        self.fd = fd
        self.deadline = deadline
    }

    enum Progress {
        case waiting
        case complete(Result<HybridRequest, HybridRequestError>)
        /// The client went away or sent garbage that cannot be a line.
        case failed(String)
    }

    /// Reads what has arrived, one byte at a time so nothing after the newline is consumed: those bytes
    /// are the start of the stream and belong to the guest.
    func readLine() -> Progress {
        var byte: UInt8 = 0
        while true {
            let outcome: Result<Int, SysError> = withUnsafeMutableBytes(of: &byte) { buffer in
                do throws(SysError) { return .success(try fd.read(into: buffer)) } catch { return .failure(error) }
            }
            switch outcome {
            case .success(0):
                return .failed("client closed before finishing its CONNECT line")
            case .success:
                if byte == UInt8(ascii: "\n") {
                    return .complete(HybridRequest.parse(String(decoding: line, as: UTF8.self)))
                }
                line.append(byte)
                if line.count > HybridRequest.maximumLineLength {
                    return .failed("first line longer than \(HybridRequest.maximumLineLength) bytes without a newline")
                }
            case .failure(let error):
                if error.code == Errno.EAGAIN { return .waiting }
                return .failed("reading the CONNECT line: \(error)")
            }
        }
    }
}
