import SwiftProtobuf

/// A generator refusal: what in the schema it cannot express and where.
public struct CodegenError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Every message and enum of a descriptor set by its full name (".guestkit.v1.User"), with its Swift name.
struct Schema {
    struct Message {
        let swiftName: String
        let protoName: String
        let descriptor: Google_Protobuf_DescriptorProto
    }

    struct Enumeration {
        let swiftName: String
    }

    private(set) var messages: [String: Message] = [:]
    private(set) var enums: [String: Enumeration] = [:]

    init(_ set: Google_Protobuf_FileDescriptorSet) {
        for file in set.file {
            let scope = file.package.isEmpty ? "" : "." + file.package
            let prefix = SwiftNames.packagePrefix(file.package)
            for message in file.messageType {
                add(message, scope: scope, swiftScope: nil, prefix: prefix)
            }
            for enumeration in file.enumType {
                enums[scope + "." + enumeration.name] = Enumeration(swiftName: prefix + enumeration.name)
            }
        }
    }

    private mutating func add(_ message: Google_Protobuf_DescriptorProto, scope: String, swiftScope: String?, prefix: String) {
        let fullName = scope + "." + message.name
        let swiftName = swiftScope.map { $0 + "." + message.name } ?? prefix + message.name
        messages[fullName] = Message(swiftName: swiftName, protoName: String(fullName.dropFirst()), descriptor: message)
        for nested in message.nestedType {
            add(nested, scope: fullName, swiftScope: swiftName, prefix: prefix)
        }
        for enumeration in message.enumType {
            enums[fullName + "." + enumeration.name] = Enumeration(swiftName: swiftName + "." + enumeration.name)
        }
    }

    func message(_ name: String, for field: String) throws(CodegenError) -> Message {
        guard let message = messages[name] else { throw CodegenError("field \(field): message type \(name) is not in the descriptor set (protoc --include_imports)") }
        return message
    }

    func enumeration(_ name: String, for field: String) throws(CodegenError) -> Enumeration {
        guard let enumeration = enums[name] else { throw CodegenError("field \(field): enum type \(name) is not in the descriptor set (protoc --include_imports)") }
        return enumeration
    }
}
