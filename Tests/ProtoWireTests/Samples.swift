import GuestProto
import ProtoWire

/// Messages with every field kind the agent's schema uses, set to values at the edges of their types.
enum Samples {
    static let user = Guestkit_V1_User.with {
        $0.uid = 1000
        $0.gid = UInt32.max
        $0.additionalGids = [0, 1, 127, 128, 65534, UInt32.max]
    }

    static let startProcess = Guestkit_V1_StartProcessRequest.with {
        $0.id = "p1"
        $0.args = ["/bin/sh", "-c", "printf '%s\\n' \"h\u{E9}llo\" \u{1F600}"]
        $0.env = ["PATH=/usr/bin:/bin", "EMPTY=", ""]
        $0.cwd = "/tmp"
        $0.user = user
        $0.rlimits = [
            .with { $0.type = "RLIMIT_NOFILE"; $0.soft = 1024; $0.hard = UInt64.max },
            Guestkit_V1_Rlimit(),
            .with { $0.type = "RLIMIT_CORE"; $0.hard = 1 << 63 },
        ]
        $0.terminal = true
        $0.terminalSize = .with { $0.rows = 24; $0.columns = 80 }
        $0.stdin = true
        $0.stdout = true
        $0.containerID = "c1"
    }

    static let startProcessResponse = Guestkit_V1_StartProcessResponse.with {
        $0.id = "p7"
        $0.pid = -1
    }

    static let waitProcessResponse = Guestkit_V1_WaitProcessResponse.with {
        $0.exitCode = Int32.min
        $0.signal = 9
        $0.coreDumped = true
        $0.exitedBoottimeNs = UInt64.max
    }

    static let attachStderr = Guestkit_V1_AttachStdioRequest.with {
        $0.id = "p1"
        $0.stream = .stderr
        $0.containerID = "c1"
    }

    static let attachUnknownStream = Guestkit_V1_AttachStdioRequest.with {
        $0.id = "p1"
        $0.stream = .UNRECOGNIZED(7)
    }

    static let attachNegativeStream = Guestkit_V1_AttachStdioRequest.with {
        $0.stream = .UNRECOGNIZED(-2)
    }

    static let containers = Guestkit_V1_ListContainersResponse.with {
        $0.containers = [
            .with {
                $0.id = "web"
                $0.status = .paused
                $0.pid = 4242
                $0.bundle = "/run/bundles/web"
                $0.exitCode = -1
                $0.signal = 15
                $0.createdBoottimeNs = 1
                $0.startedBoottimeNs = 2
                $0.exitedBoottimeNs = UInt64.max - 1
                $0.stateJson = "{\"ociVersion\":\"1.0.2\",\n\t\"status\":\"paused\"}"
                $0.oomKills = 3
                $0.execIds = ["e1", "e2"]
            },
            .with { $0.id = "odd"; $0.status = .UNRECOGNIZED(42) },
            Guestkit_V1_ContainerInfo(),
        ]
    }

    static let stats = Guestkit_V1_ContainerStatsResponse.with {
        $0.cpuUsageUsec = 123_456
        $0.memoryCurrent = 1 << 40
        $0.memoryStat = ["anon": 4096, "file": 0, "": 5, "sl\u{E4}b": UInt64.max]
        $0.memoryEvents = ["oom_kill": 2]
        $0.pidsMax = 64
        $0.io = [.with { $0.device = "254:0"; $0.readBytes = 512; $0.writeIos = 9 }, Guestkit_V1_IOStat()]
    }

    static let createContainer = Guestkit_V1_CreateContainerRequest.with {
        $0.id = "c1"
        $0.specJson = (0...255).map { UInt8($0) }
        $0.rootfs = "/run/rootfs"
        $0.storage = [
            .with { $0.type = "9p"; $0.source = "share"; $0.target = "/run/share"; $0.options = ["trans=virtio", "version=9p2000.L"] },
            .with { $0.type = "overlay"; $0.options = [""] },
        ]
        $0.stdout = true
        $0.stderr = true
    }

    static let getInfo = Guestkit_V1_GetInfoResponse.with {
        $0.agentVersion = "1.2.3"
        $0.bootStages = [.with { $0.name = "init"; $0.boottimeNs = 1 }, .with { $0.name = "agent" }]
        $0.memory = Guestkit_V1_MemoryInfo()
        $0.root = .with { $0.source = "/dev/vda"; $0.type = "ext4"; $0.dax = true; $0.overlay = "tmpfs"; $0.switched = true }
        $0.features = ["stdio-connections", "terminal"]
        $0.agentRestarts = 1
        $0.agentOpenDescriptors = UInt32.max
    }

    static let ttrpcRequest = Ttrpc_Request.with {
        $0.service = "guestkit.v1.Agent"
        $0.method = "StartProcess"
        $0.payload = startProcess.serializedBytes() + [0, 0xFF, 0x80, 0x22, 0x5C]
        $0.timeoutNano = -1_000_000_000
        $0.metadata = [.with { $0.key = "trace"; $0.value = "abc" }, .with { $0.key = "empty" }]
    }

    static let ttrpcMinimumTimeout = Ttrpc_Request.with { $0.timeoutNano = Int64.min }

    static let ttrpcResponse = Ttrpc_Response.with {
        $0.status = .with {
            $0.code = 5
            $0.message = "no process p9"
            $0.details = [.with { $0.typeURL = "type.googleapis.com/google.rpc.ErrorInfo"; $0.value = [0x0A, 0x01, 0x78] }, Ttrpc_Any()]
        }
    }

    static let ttrpcEmptyStatus = Ttrpc_Response.with { $0.status = Ttrpc_Status() }

    static let networkFiles = Guestkit_V1_WriteNetworkFilesRequest.with {
        $0.containerID = "c1"
        $0.nameservers = ["192.0.2.53", "2001:db8::53"]
        $0.search = ["example.com"]
        $0.dnsOptions = ["ndots:5"]
        $0.hosts = [.with { $0.address = "192.0.2.2"; $0.names = ["web", "web.local"] }]
        $0.hostname = "web"
    }

    static let interface = Guestkit_V1_ConfigureInterfaceResponse.with {
        $0.interface = .with {
            $0.index = -7
            $0.name = "eth0"
            $0.mac = "02:00:00:00:00:01"
            $0.mtu = 1500
            $0.up = true
            $0.addresses = [.with { $0.cidr = "192.0.2.2/24"; $0.flags = ["permanent", "nodad"] }]
        }
    }
}
