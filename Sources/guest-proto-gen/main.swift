// guest-proto-gen DESCRIPTOR_SET OUTPUT_DIR FILE.proto...: Swift for each FILE (as the set names it),
// written to OUTPUT_DIR/<basename>.pb.swift. The set comes from
// `protoc --include_imports --include_source_info --descriptor_set_out=...`.
import Foundation
import ProtoCodegen
import SwiftProtobuf

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: guest-proto-gen DESCRIPTOR_SET OUTPUT_DIR FILE.proto...\n".utf8))
    exit(2)
}
let setPath = arguments[arguments.startIndex]
let outputDirectory = arguments[arguments.startIndex + 1]
do {
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: setPath)))
    for name in arguments.dropFirst(2) {
        let swift = try FileEmitter.generate(name, from: set)
        let base = (name as NSString).lastPathComponent.replacingOccurrences(of: ".proto", with: "")
        try Data(swift.utf8).write(to: URL(fileURLWithPath: outputDirectory).appendingPathComponent(base + ".pb.swift"), options: .atomic)
    }
} catch {
    FileHandle.standardError.write(Data("guest-proto-gen: \(error)\n".utf8))
    exit(1)
}
