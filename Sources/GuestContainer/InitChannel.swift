import GuestJSON
import GuestSys

/// The messages between the parent (agent) and a container's init or exec init over their
/// SOCK_SEQPACKET sync socket. One message per send: a tag byte and its payload.
///
///     parent → init                        init → parent
///     'G'  go (read by the C stage 2)      'P'/'E'  from the C stages (ContainerStageMessage)
///     'C'  a chunk of the instructions     'H'  run prestart/createRuntime hooks now
///     'D'  end of the instructions         'Y'  ready: set my rlimits now (I am still root)
///     'R'  resume (after hooks or rlimits)  'K'  created (with the pty controller, SCM_RIGHTS)
///                                          'X'  failed: the step, the path and the errno
///     'F'  hooks failed: give up
///     'S'  start: exec the program
///
/// Exec success closes the init's end (close-on-exec), so the parent reads end of file.
public enum InitMessage: Sendable, Equatable {
    case instructionsChunk([UInt8])
    case instructionsEnd
    case resume
    case hooksFailed(String)
    case start
    case runHooks
    case ready
    case created
    case failed(String)

    /// Largest instructions chunk: well under the socket's send buffer.
    static let chunkSize = 32 << 10
    /// Largest instructions document accepted.
    static let maxInstructions = 16 << 20

    public var bytes: [UInt8] {
        switch self {
        case .instructionsChunk(let chunk): return [UInt8(ascii: "C")] + chunk
        case .instructionsEnd: return [UInt8(ascii: "D")]
        case .resume: return [UInt8(ascii: "R")]
        case .hooksFailed(let text): return [UInt8(ascii: "F")] + Array(text.utf8.prefix(4096))
        case .start: return [UInt8(ascii: "S")]
        case .runHooks: return [UInt8(ascii: "H")]
        case .ready: return [UInt8(ascii: "Y")]
        case .created: return [UInt8(ascii: "K")]
        case .failed(let text): return [UInt8(ascii: "X")] + Array(text.utf8.prefix(4096))
        }
    }

    public init?(_ bytes: [UInt8]) {
        guard let tag = bytes.first else { return nil }
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        switch tag {
        case UInt8(ascii: "C"): self = .instructionsChunk(Array(bytes.dropFirst()))
        case UInt8(ascii: "D"): self = .instructionsEnd
        case UInt8(ascii: "R"): self = .resume
        case UInt8(ascii: "F"): self = .hooksFailed(text)
        case UInt8(ascii: "S"): self = .start
        case UInt8(ascii: "H"): self = .runHooks
        case UInt8(ascii: "Y"): self = .ready
        case UInt8(ascii: "K"): self = .created
        case UInt8(ascii: "X"): self = .failed(text)
        default: return nil
        }
    }
}

/// One end of the sync socket.
public struct InitChannel: Sendable {
    public let fd: FileDescriptor

    public init(_ fd: FileDescriptor) { self.fd = fd }

    public func send(_ message: InitMessage, descriptors: [FileDescriptor] = []) throws(SysError) {
        _ = try Sockets.send(fd, message.bytes, descriptors: descriptors)
    }

    /// Sends a document in chunks, then the end marker (carrying the mount namespace to join, if any).
    public func sendInstructions(_ document: [UInt8], mountNamespace: FileDescriptor? = nil) throws(SysError) {
        var offset = 0
        while offset < document.count {
            let end = min(offset + InitMessage.chunkSize, document.count)
            try send(.instructionsChunk(Array(document[offset..<end])))
            offset = end
        }
        try send(.instructionsEnd, descriptors: mountNamespace.map { [$0] } ?? [])
    }

    /// Receives one message (blocking or not, as the socket is); nil at end of file. On a non-blocking
    /// socket with nothing to read it throws EAGAIN.
    public func receive() throws(SysError) -> (message: [UInt8], descriptors: [FileDescriptor])? {
        var buffer = [UInt8](repeating: 0, count: InitMessage.chunkSize + 64)
        // withUnsafeMutableBytes is not typed-throws: the result or the error comes out as a value.
        let result: Result<(count: Int, descriptors: [FileDescriptor]), SysError> = buffer.withUnsafeMutableBytes { raw in
            do throws(SysError) {
                return .success(try Sockets.receive(fd, into: raw, maxDescriptors: 4))
            } catch {
                return .failure(error)
            }
        }
        let (count, descriptors) = try result.get()
        if count == 0 && descriptors.isEmpty { return nil }
        return (Array(buffer[..<count]), descriptors)
    }

    /// Reads chunks until the end marker (the init side, blocking); the descriptor is the mount namespace
    /// to join, when the parent sent one.
    func receiveInstructions() throws(ContainerError) -> (document: [UInt8], mountNamespace: FileDescriptor?) {
        var document: [UInt8] = []
        while true {
            let received: (message: [UInt8], descriptors: [FileDescriptor])?
            do throws(SysError) { received = try receive() } catch {
                throw ContainerError.step("read the instructions", error)
            }
            guard let received else { throw ContainerError.failed("the parent closed the sync socket before sending instructions") }
            let message = InitMessage(received.message)
            if case .instructionsEnd = message {
                for fd in received.descriptors.dropFirst() { fd.closeQuietly() }
                return (document, received.descriptors.first)
            }
            for fd in received.descriptors { fd.closeQuietly() }
            switch message {
            case .instructionsChunk(let chunk):
                document += chunk
                guard document.count <= InitMessage.maxInstructions else {
                    throw ContainerError.failed("instructions larger than \(InitMessage.maxInstructions) bytes")
                }
            default:
                throw ContainerError.failed("unexpected message while reading the instructions")
            }
        }
    }
}

/// What the container init or exec init is told to do: the whole spec (and for an exec, its process),
/// where the bundle and rootfs are, and whether the parent has hooks to run mid-way.
public struct InitInstructions: Sendable {
    public enum Mode: String, Sendable { case container, exec }

    public var mode: Mode
    public var id: String
    public var bundle: String
    public var rootfs: String
    public var spec: JSONValue
    /// An exec's process (`ProcessSpec` JSON); nil for the container's init.
    public var process: JSONValue?
    public var cgroupPath: String
    /// The spec has prestart or createRuntime hooks: the init stops for them after its mounts.
    public var parentHooks: Bool

    public init(mode: Mode, id: String, bundle: String, rootfs: String, spec: JSONValue, process: JSONValue? = nil,
                cgroupPath: String, parentHooks: Bool) {
        self.mode = mode
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.spec = spec
        self.process = process
        self.cgroupPath = cgroupPath
        self.parentHooks = parentHooks
    }

    public var json: JSONValue {
        var object = JSONObject([("mode", .string(mode.rawValue)), ("id", .string(id)), ("bundle", .string(bundle)),
                                 ("rootfs", .string(rootfs)), ("spec", spec), ("cgroupPath", .string(cgroupPath)),
                                 ("parentHooks", .bool(parentHooks))])
        if let process { object.set("process", process) }
        return .object(object)
    }

    init(parsing document: [UInt8]) throws(ContainerError) {
        let value: JSONValue
        do throws(JSONSyntaxError) { value = try JSONValue.parse(document) } catch {
            throw ContainerError.failed("instructions: \(error)")
        }
        do throws(SpecError) { try self.init(value) } catch { throw ContainerError.invalidSpec(error) }
    }

    public init(_ value: JSONValue) throws(SpecError) {
        let object = try JSONField(value).object()
        guard let mode = Mode(rawValue: try object.required("mode").string()) else {
            throw SpecError(object.path.appending("mode"), "unknown mode")
        }
        self.mode = mode
        id = try object.required("id").string()
        bundle = try object.required("bundle").string()
        rootfs = try object.required("rootfs").string()
        spec = try object.required("spec").value
        process = object["process"]?.value
        cgroupPath = try object.required("cgroupPath").string()
        parentHooks = try object["parentHooks"]?.bool() ?? false
    }
}
