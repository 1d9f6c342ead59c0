import Foundation

/// A network namespace a test makes (`ip netns add gknet-…`) and deletes when released, with lo up. Only
/// the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32) are ever put in one.
public final class ScratchNetworkNamespace: Sendable {
    public let name: String
    /// /var/run/netns/NAME, as CNI and `ctr run --with-ns network:PATH` name a namespace.
    public var path: String { "/var/run/netns/" + name }

    public init(_ label: String) throws {
        name = "gknet-\(label)-\(UUID().uuidString.prefix(6).lowercased())"
        try Self.require(["ip", "netns", "add", name])
        try ip("link", "set", "lo", "up")
    }

    /// Runs `ip -n NAME ARGS…`; throws with its output when it fails.
    @discardableResult
    public func ip(_ arguments: String...) throws -> String { try ip(arguments) }

    @discardableResult
    public func ip(_ arguments: [String]) throws -> String {
        try Self.require(["ip", "-n", name] + arguments).stdout
    }

    /// `ip -json -n NAME ARGS…`, parsed.
    public func json(_ arguments: String...) throws -> [[String: Any]] {
        let text = try ip(["-json"] + arguments)
        guard let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw ScratchNetworkError("ip -json \(arguments.joined(separator: " ")) printed no JSON array: \(text)")
        }
        return parsed
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    public func run(_ arguments: [String], timeout: Duration = .seconds(120)) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", name] + arguments, timeout: timeout)
    }

    /// Runs a command inside the namespace; throws with its output when it fails.
    @discardableResult
    public func require(_ arguments: [String]) throws -> CommandResult {
        let result = try run(arguments)
        guard result.succeeded else { throw ScratchNetworkError("\(arguments.joined(separator: " ")) in \(name): \(result)") }
        return result
    }

    /// A veth pair from this namespace (`name`) to `peer` (`peerName`), both up.
    public func connect(_ name: String, to peer: ScratchNetworkNamespace, as peerName: String) throws {
        try ip("link", "add", name, "type", "veth", "peer", "name", peerName, "netns", peer.name)
        try ip("link", "set", name, "up")
        try peer.ip("link", "set", peerName, "up")
    }

    @discardableResult
    static func require(_ arguments: [String]) throws -> CommandResult {
        let result = try Command.run(arguments, timeout: .seconds(60))
        guard result.succeeded else { throw ScratchNetworkError("\(arguments.joined(separator: " ")): \(result)") }
        return result
    }

    deinit { _ = try? Command.run(["ip", "netns", "delete", name], timeout: .seconds(60)) }
}

/// A scratch network step that failed.
public struct ScratchNetworkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
