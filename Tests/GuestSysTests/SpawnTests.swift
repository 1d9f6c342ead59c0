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
