import Foundation
import GuestProto
import GuestSys

/// The container RPCs of guestkit.v1.Agent.
extension GuestClient {
    public func createContainer(_ request: Guestkit_V1_CreateContainerRequest, timeoutNanoseconds: Int64 = 0) throws(GuestClientError) -> Guestkit_V1_CreateContainerResponse {
        try channel.call("CreateContainer", request, timeoutNanoseconds: timeoutNanoseconds)
    }

    @discardableResult
    public func startContainer(_ id: String) throws(GuestClientError) -> Guestkit_V1_StartContainerResponse {
        var request = Guestkit_V1_StartContainerRequest()
        request.id = id
        return try channel.call("StartContainer", request)
    }

    public func execProcess(_ request: Guestkit_V1_ExecProcessRequest) throws(GuestClientError) -> Guestkit_V1_ExecProcessResponse {
        try channel.call("ExecProcess", request)
    }

    public func containerState(_ id: String) throws(GuestClientError) -> Guestkit_V1_ContainerInfo {
        var request = Guestkit_V1_ContainerStateRequest()
        request.id = id
        let response: Guestkit_V1_ContainerStateResponse = try channel.call("ContainerState", request)
        return response.container
    }

    public func listContainers() throws(GuestClientError) -> [Guestkit_V1_ContainerInfo] {
        let response: Guestkit_V1_ListContainersResponse = try channel.call("ListContainers", Guestkit_V1_ListContainersRequest())
        return response.containers
    }

    public func pauseContainer(_ id: String) throws(GuestClientError) {
        var request = Guestkit_V1_PauseContainerRequest()
        request.id = id
        let _: Guestkit_V1_PauseContainerResponse = try channel.call("PauseContainer", request)
    }

    public func resumeContainer(_ id: String) throws(GuestClientError) {
        var request = Guestkit_V1_ResumeContainerRequest()
        request.id = id
        let _: Guestkit_V1_ResumeContainerResponse = try channel.call("ResumeContainer", request)
    }

    /// `resources` is the spec's linux.resources object as JSON.
    public func updateContainer(_ id: String, resources: [UInt8]) throws(GuestClientError) {
        var request = Guestkit_V1_UpdateContainerRequest()
        request.id = id
        request.resourcesJson = resources
        let _: Guestkit_V1_UpdateContainerResponse = try channel.call("UpdateContainer", request)
    }

    public func containerStats(_ id: String) throws(GuestClientError) -> Guestkit_V1_ContainerStatsResponse {
        var request = Guestkit_V1_ContainerStatsRequest()
        request.id = id
        return try channel.call("ContainerStats", request)
    }

    /// Waits until the container's OOM-kill count exceeds `known`; returns the new count.
    public func waitForOOM(_ id: String, known: UInt64, timeoutNanoseconds: Int64 = 0) throws(GuestClientError) -> UInt64 {
        var request = Guestkit_V1_WaitContainerOOMRequest()
        request.id = id
        request.knownOomKills = known
        let response: Guestkit_V1_WaitContainerOOMResponse = try channel.call("WaitContainerOOM", request, timeoutNanoseconds: timeoutNanoseconds)
        return response.oomKills
    }

    public func deleteContainer(_ id: String, force: Bool = false) throws(GuestClientError) {
        var request = Guestkit_V1_DeleteContainerRequest()
        request.id = id
        request.force = force
        let _: Guestkit_V1_DeleteContainerResponse = try channel.call("DeleteContainer", request)
    }
}

/// `guestctl run`: create a container with the streams that have a local end, attach them, start it, wait
/// for its init, delete it — `runc run` over the agent.
public struct ContainerRun: Sendable {
    public var request: Guestkit_V1_CreateContainerRequest
    public var stdin: FileDescriptor?
    public var stdout: FileDescriptor?
    public var stderr: FileDescriptor?

    public init(request: Guestkit_V1_CreateContainerRequest, stdin: FileDescriptor? = nil, stdout: FileDescriptor? = nil,
                stderr: FileDescriptor? = nil) {
        self.request = request
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Runs to completion and deletes the container (also when something failed after the create).
    /// `created` is called once the container exists (e.g. to forward terminal resizes).
    public func run(on client: GuestClient, terminal: Bool,
                    created: (Guestkit_V1_CreateContainerResponse) -> Void = { _ in }) throws(GuestClientError) -> ProcessExit {
        var request = self.request
        request.stdin = stdin != nil
        request.stdout = stdout != nil
        request.stderr = stderr != nil && !terminal
        let id = request.id
        let response = try client.createContainer(request)
        created(response)
        defer { try? client.deleteContainer(id, force: true) }
        return try StdioSession(stdin: stdin, stdout: stdout, stderr: request.stderr ? stderr : nil)
            .run(on: client, id: id, container: id, between: { () throws(GuestClientError) in try client.startContainer(id) },
                 finish: { () throws(GuestClientError) in try client.wait(id, container: id) })
    }
}
