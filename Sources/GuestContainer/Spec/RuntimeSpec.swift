// GuestContainer runs OCI containers inside the guest: it reads a bundle's runtime spec (OCI runtime spec
// 1.0–1.1) into typed values, checks what it cannot honour, and performs creation as an ordered recipe in
// runc's order — namespaces, cgroups, rootfs, identity, capabilities, seccomp, hooks — split between the
// parent (the agent, `ContainerLaunch`) and the container's own init (`ContainerInit`, a re-exec of the
// GuestKit binary, like `runc init`). It knows nothing of ttRPC: the agent turns its errors into codes.
import GuestJSON

/// A whole `config.json`: what the container runs, on which root, with which Linux settings.
public struct RuntimeSpec: Sendable {
    public var ociVersion: String
    public var process: ProcessSpec?
    public var root: RootSpec?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [MountSpec]
    public var hooks: HooksSpec
    public var annotations: [(key: String, value: String)]
    public var linux: LinuxSpec
    /// The document as read: handed to the container init as is, and to hooks through the state.
    public var document: JSONValue

    /// Parses and checks a config.json. Every error names the field: `process.cwd: must be an absolute path`.
    public init(json bytes: [UInt8]) throws(SpecError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw SpecError(JSONPath(), "config.json is not valid JSON: \(error)")
        }
        try self.init(value)
    }

    public init(_ value: JSONValue) throws(SpecError) {
        let spec = try JSONField(value).object()
        document = value
        let version = try spec.required("ociVersion").string()
        guard ["1.0", "1.1"].contains(where: { version == $0 || version.hasPrefix($0 + ".") || version.hasPrefix($0 + "-") }) else {
            throw SpecError(spec.path.appending("ociVersion"), "\"\(version)\" is not a supported version (1.0.x or 1.1.x)")
        }
        ociVersion = version
        process = try spec["process"].map { f throws(SpecError) in try ProcessSpec(f) }
        root = try spec["root"].map { f throws(SpecError) in try RootSpec(f) }
        hostname = try spec["hostname"]?.string()
        domainname = try spec["domainname"]?.string()
        mounts = try (spec["mounts"]?.array() ?? []).map { f throws(SpecError) in try MountSpec(f) }
        hooks = try spec["hooks"].map { f throws(SpecError) in try HooksSpec(f) } ?? HooksSpec()
        annotations = try spec["annotations"]?.stringMap() ?? []
        linux = try spec["linux"].map { f throws(SpecError) in try LinuxSpec(f) } ?? LinuxSpec()
        try SpecValidation.check(self, path: spec.path)
    }
}

/// A spec that is malformed or asks for something GuestKit cannot do, naming the field.
public typealias SpecError = JSONDecodeError

/// `root`: the container's root filesystem.
public struct RootSpec: Sendable {
    /// Absolute, or relative to the bundle.
    public var path: String
    public var readonly: Bool

    public init(path: String, readonly: Bool = false) {
        self.path = path
        self.readonly = readonly
    }

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = try object.required("path").string()
        readonly = try object["readonly"]?.bool() ?? false
        guard !path.isEmpty else { throw SpecError(object.path.appending("path"), "must not be empty") }
    }
}

/// `mounts[i]`: one mount, in the order the spec lists them.
public struct MountSpec: Sendable {
    public var destination: String
    public var type: String
    public var source: String
    public var options: [String]
    /// The options read as mount(2) flags, propagation changes and filesystem data, as runc reads them.
    public var parsed: MountOptions
    public var path: JSONPath

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = object.path
        destination = try object.required("destination").string()
        type = try object["type"]?.string() ?? ""
        source = try object["source"]?.string() ?? ""
        options = try object["options"]?.stringArray() ?? []
        parsed = MountOptions(options)
        if object["uidMappings"] != nil || object["gidMappings"] != nil {
            throw SpecError(object.path.appending("uidMappings"), "id-mapped mounts are not supported")
        }
        for (name, value) in [("destination", destination), ("type", type), ("source", source)] where value.utf8.contains(0) {
            throw SpecError(object.path.appending(name), "contains a NUL byte")
        }
        guard !destination.isEmpty else { throw SpecError(object.path.appending("destination"), "must not be empty") }
    }

    /// Whether this is a bind mount (`bind`/`rbind` option; the type is then meaningless, as in runc).
    public var isBind: Bool { parsed.flags.contains(.bind) }
}

/// `hooks`: programs run at the points the spec names, each with the state JSON on stdin.
public struct HooksSpec: Sendable {
    public var prestart: [HookSpec] = []
    public var createRuntime: [HookSpec] = []
    public var createContainer: [HookSpec] = []
    public var startContainer: [HookSpec] = []
    public var poststart: [HookSpec] = []
    public var poststop: [HookSpec] = []

    public init() {}

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        func list(_ name: String) throws(SpecError) -> [HookSpec] {
            try (object[name]?.array() ?? []).map { f throws(SpecError) in try HookSpec(f) }
        }
        prestart = try list("prestart")
        createRuntime = try list("createRuntime")
        createContainer = try list("createContainer")
        startContainer = try list("startContainer")
        poststart = try list("poststart")
        poststop = try list("poststop")
    }

    /// Hooks of a phase.
    public subscript(phase: HookPhase) -> [HookSpec] {
        switch phase {
        case .prestart: return prestart
        case .createRuntime: return createRuntime
        case .createContainer: return createContainer
        case .startContainer: return startContainer
        case .poststart: return poststart
        case .poststop: return poststop
        }
    }
}

/// When a hook runs, in the spec's names.
public enum HookPhase: String, Sendable, CaseIterable {
    case prestart, createRuntime, createContainer, startContainer, poststart, poststop
}

/// One hook: an absolute program path, its argv and environment, an optional timeout in seconds.
public struct HookSpec: Sendable, Equatable {
    public var path: String
    public var args: [String]
    public var env: [String]
    public var timeoutSeconds: Int?

    public init(path: String, args: [String] = [], env: [String] = [], timeoutSeconds: Int? = nil) {
        self.path = path
        self.args = args
        self.env = env
        self.timeoutSeconds = timeoutSeconds
    }

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = try object.required("path").string()
        args = try object["args"]?.stringArray() ?? []
        env = try object["env"]?.stringArray() ?? []
        timeoutSeconds = try object["timeout"]?.integer(Int.self)
        guard path.hasPrefix("/") else { throw SpecError(object.path.appending("path"), "\"\(path)\" is not an absolute path") }
        if let timeoutSeconds, timeoutSeconds <= 0 {
            throw SpecError(object.path.appending("timeout"), "must be greater than zero, got \(timeoutSeconds)")
        }
    }
}
