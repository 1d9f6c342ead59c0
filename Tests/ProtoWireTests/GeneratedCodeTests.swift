import Foundation
import GuestTestSupport
import ProtoCodegen
import SwiftProtobuf
import Testing

/// protoc's descriptor set of .proto files, as `make proto` makes it.
enum DescriptorSet {
    static func of(_ files: [String], in directory: String) throws -> Google_Protobuf_FileDescriptorSet {
        let scratch = try ScratchDirectory("proto-wire-descriptors")
        let output = scratch.file("set.pb")
        _ = try Protoc.text(["-I", ".", "--include_imports", "--include_source_info", "--descriptor_set_out=\(output)"] + files,
                            input: [], in: directory)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: output)))
        return try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)
    }

    /// `source` written as `name` in a scratch directory, then compiled.
    static func of(proto source: String, named name: String = "demo.proto") throws -> Google_Protobuf_FileDescriptorSet {
        let scratch = try ScratchDirectory("proto-wire-schema")
        try Data(source.utf8).write(to: URL(fileURLWithPath: scratch.file(name)))
        return try of([name], in: scratch.path)
    }
}

@Suite struct GeneratedCodeIsCurrentTests {
    /// The first line where two texts differ, for a failure message.
    static func firstDifference(_ expected: String, _ actual: String) -> String {
        let left = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let right = actual.split(separator: "\n", omittingEmptySubsequences: false)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? String(left[index]) : "<end of file>"
            let b = index < right.count ? String(right[index]) : "<end of file>"
            if a != b { return "line \(index + 1): generated \"\(a)\", committed \"\(b)\"" }
        }
        return "no line differs"
    }

    @Test(arguments: [("guestkit/v1/agent.proto", "agent.pb.swift"), ("ttrpc/ttrpc.proto", "ttrpc.pb.swift")])
    func theCommittedSwiftIsWhatTheGeneratorMakesFromTheProtoFiles(proto: String, swift: String) throws {
        let set = try DescriptorSet.of(["guestkit/v1/agent.proto", "ttrpc/ttrpc.proto"], in: Protoc.protoDirectory)
        let generated = try FileEmitter.generate(proto, from: set)
        let committedPath = (Protoc.protoDirectory as NSString).appendingPathComponent(swift)
        let committed = try String(contentsOfFile: committedPath, encoding: .utf8)
        #expect(Array(generated.utf8) == Array(committed.utf8),
                "Sources/GuestProto/\(swift) is not what \(proto) generates (\(Self.firstDifference(generated, committed))): run make proto")
    }
}

@Suite struct GeneratorTests {
    static func refusal(_ source: String, file: String = "demo.proto") throws -> String? {
        let set = try DescriptorSet.of(proto: source, named: file)
        do {
            _ = try FileEmitter.generate(file, from: set)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aOneofIsRefusedNamingTheField() throws {
        let message = try #require(try Self.refusal("""
            syntax = "proto3";
            package demo;
            message Choice {
              string name = 1;
              oneof pick {
                string text = 2;
                uint32 number = 3;
              }
            }
            """))
        #expect(message.contains("demo.Choice.text"), "\(message)")
        #expect(message.contains("oneof"), "\(message)")
    }

    @Test func aProto3OptionalFieldIsRefusedNamingTheField() throws {
        let message = try #require(try Self.refusal("""
            syntax = "proto3";
            package demo;
            message Maybe { optional uint64 size = 1; }
            """))
        #expect(message.contains("demo.Maybe.size"), "\(message)")
        #expect(message.contains("optional"), "\(message)")
    }

    @Test func aDoubleFieldIsRefusedNamingTheFieldAndItsType() throws {
        let message = try #require(try Self.refusal("""
            syntax = "proto3";
            package demo;
            message Reading {
              string sensor = 1;
              double celsius = 2;
            }
            """))
        #expect(message.contains("demo.Reading.celsius"), "\(message)")
        #expect(message.lowercased().contains("double"), "\(message)")
        #expect(message.contains("not supported"), "\(message)")
    }

    @Test func aProto2FileIsRefusedNamingTheFile() throws {
        let message = try #require(try Self.refusal("""
            syntax = "proto2";
            package demo;
            message Old { optional string name = 1; }
            """, file: "legacy.proto"))
        #expect(message.contains("legacy.proto"), "\(message)")
        #expect(message.contains("only proto3") && message.contains("this one is proto2"), "\(message)")
    }

    @Test func aFileNotInTheSetIsRefusedListingTheFilesThatAre() throws {
        let set = try DescriptorSet.of(proto: "syntax = \"proto3\";\nmessage M {}\n", named: "present.proto")
        let error = try #require(throws: CodegenError.self) { try FileEmitter.generate("absent.proto", from: set) }
        #expect(error.description.contains("absent.proto") && error.description.contains("present.proto"), "\(error)")
    }

    @Test func nestedMessagesEnumsAndMessageMapsAreDeclaredInsideTheirParent() throws {
        let set = try DescriptorSet.of(proto: """
            syntax = "proto3";
            package demo.v1;
            // The outer one.
            message Outer {
              message Inner { string name = 1; }
              enum Kind {
                KIND_UNSPECIFIED = 0;
                KIND_BIG = 1;
              }
              Inner inner = 1;
              Kind kind = 2;
              map<string, Inner> by_name = 3;
              repeated Kind kinds = 4;
            }
            """)
        let swift = try FileEmitter.generate("demo.proto", from: set)
        #expect(swift.hasPrefix("// Generated by guest-proto-gen from demo.proto"))
        #expect(swift.contains("import ProtoWire\n"))
        #expect(swift.contains("/// The outer one.\npublic struct Demo_V1_Outer: WireMessage {\n"))
        #expect(swift.contains("public static let protoMessageName = \"demo.v1.Outer\""))
        #expect(swift.contains("\n    public struct Inner: WireMessage {\n"))
        #expect(swift.contains("public static let protoMessageName = \"demo.v1.Outer.Inner\""))
        #expect(swift.contains("\n    public enum Kind: WireEnum, CaseIterable {\n"))
        #expect(swift.contains("case big // = 1"))
        #expect(swift.contains("public var inner: Demo_V1_Outer.Inner {"))
        #expect(swift.contains("public var hasInner: Bool"))
        #expect(swift.contains("public var kind: Demo_V1_Outer.Kind = Demo_V1_Outer.Kind()"))
        #expect(swift.contains("public var byName: [String: Demo_V1_Outer.Inner] = [:]"))
        #expect(swift.contains("public var kinds: [Demo_V1_Outer.Kind] = []"))
        #expect(!swift.contains("ByNameEntry"), "a map's entry message is not declared")
    }
}
