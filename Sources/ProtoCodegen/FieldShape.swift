import SwiftProtobuf

/// A scalar protobuf type the guest's wire code handles, with its Swift spelling.
enum Scalar {
    case string, bytes, bool, int32, int64, uint32, uint64

    init?(_ type: Google_Protobuf_FieldDescriptorProto.TypeEnum) {
        switch type {
        case .string: self = .string
        case .bytes: self = .bytes
        case .bool: self = .bool
        case .int32: self = .int32
        case .int64: self = .int64
        case .uint32: self = .uint32
        case .uint64: self = .uint64
        default: return nil
        }
    }

    var swiftType: String {
        switch self {
        case .string: "String"
        case .bytes: "[UInt8]"
        case .bool: "Bool"
        case .int32: "Int32"
        case .int64: "Int64"
        case .uint32: "UInt32"
        case .uint64: "UInt64"
        }
    }

    var defaultValue: String {
        switch self {
        case .string: "\"\""
        case .bytes: "[]"
        case .bool: "false"
        default: "0"
        }
    }

    /// The WireWriter / WireReader method for one value.
    var method: String {
        switch self {
        case .string: "string"
        case .bytes: "bytes"
        case .bool: "bool"
        case .int32: "int32"
        case .int64: "int64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        }
    }

    /// How a repeated varint scalar's elements become wire varints and back; nil for strings and bytes,
    /// which are never packed.
    var packing: (toWire: String, fromWire: String)? {
        switch self {
        case .string, .bytes: nil
        case .bool: ("{ $0 ? 1 : 0 }", "{ $0 != 0 }")
        case .int32: ("{ UInt64(bitPattern: Int64($0)) }", "{ Int32(truncatingIfNeeded: $0) }")
        case .int64: ("{ UInt64(bitPattern: $0) }", "{ Int64(bitPattern: $0) }")
        case .uint32: ("{ UInt64($0) }", "{ UInt32(truncatingIfNeeded: $0) }")
        case .uint64: ("{ $0 }", "{ $0 }")
        }
    }
}

/// What one field holds, as far as the generated code is concerned.
indirect enum FieldShape {
    case scalar(Scalar)
    case enumeration(String)
    case message(String)
    case repeated(FieldShape)
    case map(key: Scalar, value: FieldShape)

    init(_ field: Google_Protobuf_FieldDescriptorProto, in schema: Schema, owner: String) throws(CodegenError) {
        let where_ = owner + "." + field.name
        if field.hasOneofIndex {
            throw CodegenError("field \(where_): oneof and proto3 optional are not supported by guest-proto-gen")
        }
        let single: FieldShape
        switch field.type {
        case .enum:
            single = .enumeration(try schema.enumeration(field.typeName, for: where_).swiftName)
        case .message:
            let message = try schema.message(field.typeName, for: where_)
            if message.descriptor.options.mapEntry {
                let key = message.descriptor.field.first { $0.number == 1 }
                let value = message.descriptor.field.first { $0.number == 2 }
                guard let key, let value, let keyScalar = Scalar(key.type), keyScalar != .bytes, keyScalar != .bool else {
                    throw CodegenError("field \(where_): only maps with string or integer keys are supported")
                }
                self = .map(key: keyScalar, value: try FieldShape(value, in: schema, owner: message.protoName))
                return
            }
            single = .message(message.swiftName)
        default:
            guard let scalar = Scalar(field.type) else {
                throw CodegenError("field \(where_): type \(field.type) is not supported by guest-proto-gen (use string, bytes, bool, int32, int64, uint32, uint64, an enum or a message)")
            }
            single = .scalar(scalar)
        }
        self = field.label == .repeated ? .repeated(single) : single
    }

    var swiftType: String {
        switch self {
        case .scalar(let scalar): scalar.swiftType
        case .enumeration(let name), .message(let name): name
        case .repeated(let element): "[\(element.swiftType)]"
        case .map(let key, let value): "[\(key.swiftType): \(value.swiftType)]"
        }
    }

    var defaultValue: String {
        switch self {
        case .scalar(let scalar): scalar.defaultValue
        case .enumeration(let name), .message(let name): "\(name)()"
        case .repeated: "[]"
        case .map: "[:]"
        }
    }
}
