import GuestJSON

/// A container's status, in the spec's words.
public enum ContainerStatus: String, Sendable {
    case creating, created, running, stopped, paused
}

/// The OCI state document hooks read on stdin (and `state` prints).
public struct ContainerState: Sendable, Equatable {
    public var ociVersion: String
    public var id: String
    public var status: ContainerStatus
    /// 0 when there is no process (stopped).
    public var pid: Int32
    public var bundle: String
    public var annotations: [String: String]

    public init(ociVersion: String, id: String, status: ContainerStatus, pid: Int32, bundle: String, annotations: [String: String]) {
        self.ociVersion = ociVersion
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.annotations = annotations
    }

    public var json: JSONValue {
        var object = JSONObject([("ociVersion", .string(ociVersion)), ("id", .string(id)), ("status", .string(status.rawValue))])
        if pid > 0 { object.set("pid", .integer(Int64(pid))) }
        object.set("bundle", .string(bundle))
        if !annotations.isEmpty {
            object.set("annotations", .object(JSONObject(annotations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        return .object(object)
    }
}
