import GuestSys
import Testing

@Suite struct SpawnTests {
    @Test func childGetsOnlyMappedDescriptorsAndExitCode() throws {
        let out = try Pipe()
        let pid = try Spawner.spawn(SpawnRequest(
            path: "/bin/sh", arguments: ["sh", "-c", "ls /proc/self/fd | wc -l; exit 7"],
            environment: ["PATH=/usr/bin:/bin"], descriptors: [1: out.writeEnd]))
        try out.writeEnd.close()
        let text = String(decoding: try out.readEnd.readToEnd(), as: UTF8.self)
        try out.readEnd.close()
        #expect(try Processes.wait(pid) == .exited(code: 7))
        // fd 1 plus the directory fd ls opens to list /proc/self/fd.
        #expect(text == "2\n")
    }

    @Test func missingProgramNamesTheStep() {
        let error = #expect(throws: SpawnError.self) {
            _ = try Spawner.spawn(SpawnRequest(path: "/nonexistent/prog", arguments: ["prog"]))
        }
        #expect(error?.step == "execve")
        #expect(error?.code == Errno.ENOENT)
    }

    @Test func badWorkingDirectoryFailsAtChdir() {
        let error = #expect(throws: SpawnError.self) {
            _ = try Spawner.spawn(SpawnRequest(path: "/bin/true", arguments: ["true"], workingDirectory: "/nonexistent"))
        }
        #expect(error?.step == "chdir")
    }

    /// The child writes itself into the cgroup.procs it is given before it runs anything (the agent moves
    /// what it starts out of its own protected cgroup this way). On a cgroup2 hierarchy of the test's own.
    @Test func aChildJoinsTheCgroupItIsGivenBeforeItRuns() throws {
        let root = "/tmp/gk-spawn-cgroup-\(Processes.currentID)"
        try FileSystem.makeDirectory(root)
        defer { try? FileSystem.removeDirectory(root) }
        try Mounts.mount(source: "cgroup2", target: root, type: "cgroup2")
        defer { try? Mounts.unmount(root, detach: true) }
        let name = "gk-spawn-test-\(Processes.currentID)"
        let cgroup = root + "/" + name
        try FileSystem.makeDirectory(cgroup)
        defer { try? FileSystem.removeDirectory(cgroup) }
        let procs = try FileDescriptor.open(cgroup + "/cgroup.procs", .writeOnly)
        defer { procs.closeQuietly() }
        let out = try Pipe()
        var request = SpawnRequest(path: "/bin/cat", arguments: ["cat", "/proc/self/cgroup"], descriptors: [1: out.writeEnd])
        request.cgroupProcs = procs
        let pid = try Spawner.spawn(request)
        try out.writeEnd.close()
        let text = String(decoding: try out.readEnd.readToEnd(), as: UTF8.self)
        try out.readEnd.close()
        #expect(try Processes.wait(pid) == .exited(code: 0))
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("0::") && $0.hasSuffix("/" + name) }, "\(text)")
    }

    @Test func aCgroupThatCannotBeJoinedFailsTheSpawnNamingTheStep() throws {
        let readOnly = try FileDescriptor.open("/dev/null", .readOnly)
        defer { readOnly.closeQuietly() }
        var request = SpawnRequest(path: "/bin/true", arguments: ["true"])
        request.cgroupProcs = readOnly
        let error = #expect(throws: SpawnError.self) { _ = try Spawner.spawn(request) }
        #expect(error?.step == "join cgroup")
        #expect(error?.code == Errno.EBADF)
    }

    @Test func resolvesLikeExecvp() {
        #expect(Spawner.resolve("sh", path: "/nonexistent:/bin") == "/bin/sh")
        #expect(Spawner.resolve("no-such-program-guestkit", path: "/bin:/usr/bin") == nil)
    }

    @Test func signaledChildReportsSignal() throws {
        let pid = try Spawner.spawn(SpawnRequest(path: "/bin/sh", arguments: ["sh", "-c", "kill -9 $$"]))
        let status = try Processes.wait(pid)
        #expect(status == .signaled(signal: Signal.kill, coreDumped: false))
        #expect(status.shellCode == 137)
    }
}
