import GuestJSON

/// The bundle's config.json as the guest must see it. The rootfs is the 9p share's; a bind mount of a host
/// path gets that path shared and its source replaced by the guest's view of it; hooks name host programs,
/// which do not exist in the guest, so they are left out (and logged). A new UTS namespace without a
/// hostname gets the host's, which is what runc's container shows (a copy of the host's UTS namespace),
/// not the VM's. A network namespace given by path (CNI, CRI, `ctr run --with-ns`) is the host's: its
/// interfaces are carried into the VM (HostNetwork) and the container runs in the guest's own network
/// namespace, where they appear, so the entry is taken out. Everything else goes to the agent unchanged: the engine in the guest validates it and
/// names the field of anything it cannot do.
struct GuestSpec {
    /// The rewritten config.json.
    var json: [UInt8]
    /// What was changed, for the log.
    var notes: [String] = []
    /// The host network namespace the spec named by path, whose interfaces the VM is to get.
    var networkNamespacePath: String?

    static let maxBytes = 4 << 20

    /// `share` binds each host source into the share and returns its guest path.
    init(configJSON bytes: [UInt8], guestRootfs: String, hostHostname: String,
         share: (_ hostPath: String, _ recursive: Bool) throws(ShimError) -> String) throws(ShimError) {
        guard bytes.count <= Self.maxBytes else {
            throw .invalidArgument("config.json is \(bytes.count) bytes, over the \(Self.maxBytes)-byte limit")
        }
        let document: JSONValue
        do throws(JSONSyntaxError) {
            document = try JSONValue.parse(bytes)
        } catch {
            throw .invalidArgument("config.json: \(error)")
        }
        guard case .object(var spec) = document else { throw .invalidArgument("config.json is not a JSON object") }

        var root: JSONObject
        if case .object(let object)? = spec["root"] { root = object } else { root = JSONObject() }
        root.set("path", .string(guestRootfs))
        spec.set("root", .object(root))

        if case .array(let mounts)? = spec["mounts"] {
            var rewritten: [JSONValue] = []
            for (index, mount) in mounts.enumerated() {
                guard case .object(var object) = mount else {
                    throw .invalidArgument("config.json mounts[\(index)] is not an object")
                }
                var options: [String] = []
                if case .array(let words)? = object["options"] {
                    for case .string(let word) in words { options.append(word) }
                }
                let type: String
                if case .string(let t)? = object["type"] { type = t } else { type = "" }
                let isBind = type == "bind" || options.contains("bind") || options.contains("rbind")
                if isBind, case .string(let source)? = object["source"] {
                    guard source.hasPrefix("/") else {
                        throw .invalidArgument("config.json mounts[\(index)].source \"\(source)\": a bind mount needs an absolute host path")
                    }
                    let guestPath = try share(source, options.contains("rbind"))
                    object.set("source", .string(guestPath))
                    notes.append("mounts[\(index)]: host \(source) shared as \(guestPath)")
                }
                rewritten.append(.object(object))
            }
            spec.set("mounts", .array(rewritten))
        }

        if case .object(var linux)? = spec["linux"], case .array(let namespaces)? = linux["namespaces"] {
            var kept: [JSONValue] = []
            for namespace in namespaces {
                if case .object(let object) = namespace, case .string("network")? = object["type"],
                   case .string(let path)? = object["path"], !path.isEmpty {
                    guard path.hasPrefix("/") else {
                        throw .invalidArgument("config.json linux.namespaces: the network namespace path \"\(path)\" is not absolute")
                    }
                    networkNamespacePath = path
                    notes.append("network namespace \(path): its interfaces go to the VM, the container uses the guest's network namespace")
                    continue
                }
                kept.append(namespace)
            }
            linux.set("namespaces", .array(kept))
            spec.set("linux", .object(linux))
        }

        if Self.hasNewUTSNamespace(spec), Self.isEmptyString(spec["hostname"]), !hostHostname.isEmpty {
            spec.set("hostname", .string(hostHostname))
            notes.append("hostname: the host's, \"\(hostHostname)\", as runc's copy of the host's UTS namespace shows")
        }

        if let hooks = spec["hooks"], hooks != .null {
            spec.members.removeAll { $0.name == "hooks" }
            notes.append("hooks left out: they name host programs, which the guest does not have")
        }
        json = Array(JSONValue.object(spec).serialized.utf8)
    }

    static func hasNewUTSNamespace(_ spec: JSONObject) -> Bool {
        guard case .object(let linux)? = spec["linux"], case .array(let namespaces)? = linux["namespaces"] else { return false }
        return namespaces.contains { namespace in
            guard case .object(let object) = namespace, case .string("uts")? = object["type"] else { return false }
            return isEmptyString(object["path"])
        }
    }

    static func isEmptyString(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null?: return true
        case .string(let text)?: return text.isEmpty
        default: return false
        }
    }
}
