import GuestProto
@testable import GuestSys
import Testing
import TTRPC
@testable import GuestAgent

/// LaunchPlan against a fake filesystem: which programs exist where.
@Suite struct LaunchPlanTests {
    static let executables: Set<String> = ["/usr/bin/env", "/bin/sh", "/opt/tools/run", "/work/app/start.sh"]
    static let files: Set<String> = executables.union(["/etc/notexec"])
    let accounts = AccountDatabase(passwd: "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh",
                                   group: "wheel:x:10:alice")

    func plan(_ configure: (inout Guestkit_V1_StartProcessRequest) -> Void) throws(AgentError) -> LaunchPlan {
        var request = Guestkit_V1_StartProcessRequest()
        configure(&request)
        return try LaunchPlan(request, accounts: { accounts }, resolveProgram: { program, path in
            if program.contains("/") { return Self.executables.contains(program) ? program : nil }
            for dir in path.split(separator: ":") where Self.executables.contains("\(dir)/\(program)") {
                return "\(dir)/\(program)"
            }
            return nil
        }, fileExists: { Self.files.contains($0) })
    }

    func message(_ configure: (inout Guestkit_V1_StartProcessRequest) -> Void) -> RPCError? {
        do {
            _ = try plan(configure)
            return nil
        } catch {
            return AgentError.status(of: error)
        }
    }

    @Test func resolvesThroughPATHAndAddsDefaults() throws {
        let p = try plan { $0.args = ["sh", "-c", "true"] }
        #expect(p.program == "/bin/sh")
        #expect(p.arguments == ["sh", "-c", "true"])
        #expect(p.environment == ["PATH=" + LaunchPlan.defaultPath, "HOME=/root"])
        #expect(p.workingDirectory == "/")
        #expect(p.identity == nil)
    }

    @Test func usesTheRequestsPATHAndKeepsItsVariables() throws {
        let p = try plan {
            $0.args = ["run"]
            $0.env = ["PATH=/opt/tools", "HOME=/x", "A=b=c"]
        }
        #expect(p.program == "/opt/tools/run")
        #expect(p.environment == ["PATH=/opt/tools", "HOME=/x", "A=b=c"])
    }

    @Test func relativePathsAreResolvedAgainstTheWorkingDirectory() throws {
        let p = try plan {
            $0.args = ["./start.sh"]
            $0.cwd = "/work/app"
        }
        #expect(p.program == "/work/app/start.sh")
    }

    @Test func terminalAddsTERMAndKeepsTheSize() throws {
        let p = try plan {
            $0.args = ["sh"]
            $0.terminal = true
            $0.terminalSize.rows = 50
            $0.terminalSize.columns = 132
        }
        #expect(p.environment.contains("TERM=xterm"))
        #expect(p.terminalSize == WindowSize(rows: 50, columns: 132))
    }

    @Test func userByNameGetsHomeAndGroups() throws {
        let p = try plan {
            $0.args = ["sh"]
            $0.user.spec = "alice"
        }
        #expect(p.identity == ProcessIdentity(uid: 1000, gid: 1000, groups: [10]))
        #expect(p.environment.contains("HOME=/home/alice"))
    }

    @Test(arguments: [
        (["missing"], "", StatusCode.notFound, "executable \"missing\" not found in PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        (["/opt/missing"], "", .notFound, "no executable file at /opt/missing"),
        (["./missing.sh"], "/work", .notFound, "no executable file at /work/missing.sh"),
        (["/etc/notexec"], "", .permissionDenied, "/etc/notexec is not executable (permission denied)"),
        ([], "", .invalidArgument, "args is empty: args[0] must name the program to run"),
        ([""], "", .invalidArgument, "args is empty: args[0] must name the program to run"),
        (["./run.sh"], "work", .invalidArgument, "cwd \"work\" is not an absolute path"),
    ])
    func refusesPrograms(args: [String], cwd: String, code: StatusCode, text: String) {
        let error = message {
            $0.args = args
            $0.cwd = cwd
        }
        #expect(error == RPCError(code, text))
    }

    @Test func refusesInconsistentRequests() {
        #expect(message { $0.args = ["sh"]; $0.terminal = true; $0.stderr = true }?.code == .invalidArgument)
        #expect(message { $0.args = ["sh"]; $0.env = ["NOVALUE"] } == RPCError(.invalidArgument, "environment entry \"NOVALUE\" is not KEY=VALUE"))
        #expect(message { $0.args = ["sh"]; $0.containerID = "c1" } ==
                RPCError(.invalidArgument, "StartProcess starts guest processes; use ExecProcess to run one in container \"c1\""))
        #expect(message { $0.args = ["sh"]; $0.user.spec = "alice"; $0.user.uid = 5 }?.code == .invalidArgument)
        #expect(message {
            $0.args = ["sh"]
            var limit = Guestkit_V1_Rlimit()
            limit.type = "NOFILE"
            limit.soft = 10
            limit.hard = 5
            $0.rlimits = [limit]
        } == RPCError(.invalidArgument, "rlimit NOFILE: soft limit 10 is above hard limit 5"))
    }

    @Test(arguments: [("RLIMIT_NOFILE", Int32(7)), ("nofile", 7), ("CORE", 4), ("RLIMIT_RTTIME", 15), ("RLIMIT_NOPE", -1)])
    func namesResourceLimits(name: String, number: Int32) {
        #expect(ResourceLimitName.number(name) == (number < 0 ? nil : number))
    }
}

@Suite struct AgentErrorTests {
    @Test(arguments: [
        (AgentError.spawn(SpawnError(path: "/bin/x", step: "execve", code: Errno.ENOENT), workingDirectory: "/"), StatusCode.notFound),
        (.spawn(SpawnError(path: "/bin/x", step: "setuid", code: Errno.EPERM), workingDirectory: "/"), .permissionDenied),
        (.spawn(SpawnError(path: "/bin/x", step: "fork", code: Errno.EAGAIN), workingDirectory: "/"), .resourceExhausted),
        (.system(SysError("pipe2", [], code: 24)), .resourceExhausted),
        (.system(SysError("ioctl", [], code: Errno.EIO)), .internal),
        (.noSuchProcess("p9"), .notFound),
        (.alreadyExists("x"), .alreadyExists),
        (.failedPrecondition("x"), .failedPrecondition),
        (.unavailable("x"), .unavailable),
    ])
    func mapsToStatusCodes(error: AgentError, code: StatusCode) {
        #expect(AgentError.status(of: error).code == code)
    }

    @Test func workingDirectoryFailuresNameTheDirectory() {
        let error = AgentError.spawn(SpawnError(path: "/bin/true", step: "chdir", code: Errno.ENOENT), workingDirectory: "/gone")
        #expect(AgentError.status(of: error) ==
                RPCError(.notFound, "cannot start /bin/true: working directory /gone: ENOENT (No such file or directory)"))
    }
}

@Suite struct AgentOptionsTests {
    @Test(arguments: [
        ([], SocketAddress.vsock(cid: SocketAddress.anyCID, port: 1024), "/run/guest/boot.json"),
        (["--port", "2048"], .vsock(cid: SocketAddress.anyCID, port: 2048), "/run/guest/boot.json"),
        (["--port=5"], .vsock(cid: SocketAddress.anyCID, port: 5), "/run/guest/boot.json"),
        (["--listen", "unix:/tmp/a.sock", "--boot-file", "/b.json"], .unix("/tmp/a.sock"), "/b.json"),
        (["--listen=vsock:77"], .vsock(cid: SocketAddress.anyCID, port: 77), "/run/guest/boot.json"),
    ])
    func parses(arguments: [String], address: SocketAddress, bootFile: String) throws {
        let options = try AgentOptions(arguments: arguments)
        #expect(options.address == address)
        #expect(options.bootFile == bootFile)
    }

    @Test(arguments: [
        (["--port"], "--port needs a value"),
        (["--port", "x"], "--port x: not a port number"),
        (["--listen", "tcp:1"], "--listen tcp:1: expected unix:PATH or vsock:PORT"),
        (["--listen", "unix:"], "--listen unix:: the Unix socket path is empty"),
        (["--port", "1", "--listen", "vsock:2"], "give --port or --listen, not both"),
        (["--frobnicate"], "unknown argument \"--frobnicate\""),
    ])
    func refuses(arguments: [String], message: String) {
        do {
            _ = try AgentOptions(arguments: arguments)
            Issue.record("accepted \(arguments)")
        } catch {
            #expect(error.description.hasPrefix(message))
            #expect(!error.isHelp)
        }
    }
}

@Suite struct BootTimelineTests {
    @Test func parsesInitsFile() throws {
        let json = """
            {"init_version":"0.1.0","kernel_release":"6.12.9","stages":[{"name":"init_started","boottime_ns":120000000},\
            {"name":"agent_ready","boottime_ns":310000000}],"root":{"source":"/dev/pmem0","type":"ext4","dax":true,\
            "overlay":"tmpfs","switched":true},"agent_restarts":1}
            """
        let timeline = try BootTimeline.parse(Array(json.utf8))
        #expect(timeline.initVersion == "0.1.0")
        #expect(timeline.stages == [.init(name: "init_started", boottimeNanoseconds: 120_000_000),
                                    .init(name: "agent_ready", boottimeNanoseconds: 310_000_000)])
        #expect(timeline.root?.dax == true)
        #expect(timeline.agentRestarts == 1)
    }

    @Test func toleratesMissingOptionalParts() throws {
        let timeline = try BootTimeline.parse(Array(#"{"stages":[]}"#.utf8))
        #expect(timeline.stages.isEmpty && timeline.root == nil && timeline.initVersion == nil)
    }

    @Test func refusesGarbage() {
        #expect(throws: (any Error).self) { try BootTimeline.parse(Array("not json".utf8)) }
    }

    @Test(arguments: [("MemTotal", UInt64(24_680_000)), ("MemAvailable", 1_000), ("Private_Dirty", 0)])
    func readsKilobyteFields(key: String, value: UInt64) {
        let text = "MemTotal:       24680000 kB\nMemFree:  5 kB\nMemAvailable:       1000 kB\n"
        #expect(GuestInfo.kilobytes(key, in: text) == value)
    }
}
