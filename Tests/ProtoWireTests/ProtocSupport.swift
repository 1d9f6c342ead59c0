import Foundation
import GuestTestSupport
import HostProcess
import ProtoWire

/// protoc (Debian's protobuf-compiler) over the committed .proto files: the encoder and decoder ours is
/// checked against.
enum Protoc {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Sources/GuestProto, the import root of agent.proto and ttrpc.proto.
    static let protoDirectory = BuiltProducts.packageRoot.appendingPathComponent("Sources/GuestProto").path

    /// The .proto file (relative to `protoDirectory`) that declares a message.
    static func file(declaring messageName: String) -> String {
        messageName.hasPrefix("ttrpc.") ? "ttrpc/ttrpc.proto" : "guestkit/v1/agent.proto"
    }

    /// Runs protoc in `directory` and returns its text output (Command.run, which gives stdout as a String).
    static func text(_ arguments: [String], input: [UInt8], in directory: String = protoDirectory) throws -> String {
        let result = try Command.run(["protoc"] + arguments, input: Data(input), currentDirectory: directory, timeout: .seconds(60))
        guard result.succeeded else { throw Failure(description: "protoc \(arguments.joined(separator: " ")): \(result)") }
        return result.stdout
    }

    /// Runs protoc in `directory` and returns its output bytes unchanged (binary, so not through a String).
    static func binary(_ arguments: [String], input: [UInt8], in directory: String = protoDirectory) throws -> [UInt8] {
        var command = ChildCommand("protoc", arguments)
        command.workingDirectory = directory
        command.input = .bytes(input)
        command.output = .capture
        command.error = .capture
        let result = try command.run(timeout: .seconds(60))
        guard result.succeeded else { throw Failure(description: "protoc \(arguments.joined(separator: " ")): \(result)") }
        return result.standardOutput
    }

    /// Text format in, protoc's binary encoding of it as `M` out.
    static func encode<M: WireMessage>(_ type: M.Type, _ textFormat: String) throws -> [UInt8] {
        try binary(["-I", ".", "--encode=\(M.protoMessageName)", file(declaring: M.protoMessageName)], input: Array(textFormat.utf8))
    }

    /// Bytes in, protoc's text format of them as `M` out.
    static func decode<M: WireMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> String {
        try text(["-I", ".", "--decode=\(M.protoMessageName)", file(declaring: M.protoMessageName)], input: bytes)
    }

    /// Whether protoc parses `bytes` as `M`.
    static func accepts<M: WireMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> Bool {
        let result = try Command.run(["protoc", "-I", ".", "--decode=\(M.protoMessageName)", file(declaring: M.protoMessageName)],
                                     input: Data(bytes), currentDirectory: protoDirectory, timeout: .seconds(60))
        return result.succeeded
    }

    /// Field numbers and raw values, without a schema.
    static func decodeRaw(_ bytes: [UInt8]) throws -> String {
        try text(["--decode_raw"], input: bytes)
    }

    /// `bytes` as protoc re-encodes them: decoded as `M` to text format, then encoded again.
    static func canonical<M: WireMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> [UInt8] {
        try encode(M.self, try decode(M.self, bytes))
    }
}

/// Hand-made protobuf encodings, written without ProtoWire so the decoder is not checked against itself.
enum Raw {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            let low = UInt8(value & 0x7F)
            value >>= 7
            out.append(value == 0 ? low : low | 0x80)
        } while value != 0
        return out
    }

    /// A tag with any wire type, including the ones protobuf 3 does not use.
    static func tag(_ number: Int, wireType: Int) -> [UInt8] {
        varint(UInt64(number) << 3 | UInt64(wireType))
    }

    static func varint(_ number: Int, _ value: UInt64) -> [UInt8] {
        tag(number, wireType: 0) + varint(value)
    }

    static func fixed64(_ number: Int, _ value: UInt64) -> [UInt8] {
        tag(number, wireType: 1) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    static func fixed32(_ number: Int, _ value: UInt32) -> [UInt8] {
        tag(number, wireType: 5) + (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    static func delimited(_ number: Int, _ body: [UInt8]) -> [UInt8] {
        tag(number, wireType: 2) + varint(UInt64(body.count)) + body
    }

    static func string(_ number: Int, _ text: String) -> [UInt8] {
        delimited(number, Array(text.utf8))
    }
}
