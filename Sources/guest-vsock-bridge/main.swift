// guest-vsock-bridge: a vhost-user-vsock back-end for QEMU with Firecracker-style hybrid vsock sockets.
// Parses the command line and runs a `Bridge`; everything else is in the VsockBridge module.
import ArgumentParser
import GuestSys
import VsockBridge

struct GuestVsockBridge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest-vsock-bridge",
        abstract: "Serve a QEMU guest's vsock (vhost-user-vsock-pci) as Firecracker-style hybrid Unix sockets.",
        discussion: """
            Start the bridge first, then QEMU with shared guest memory and the device:
              -object memory-backend-memfd,id=mem,size=512M,share=on -machine q35,memory-backend=mem
              -chardev socket,id=vsock0,path=PATH.vhost -device vhost-user-vsock-pci,chardev=vsock0
            Host to guest: connect to --uds PATH, write "CONNECT <port>\\n", read "OK <hostport>\\n".
            Guest to host: a guest connection to CID 2 port P reaches a listener at PATH_P (RST if none).
            The bridge exits when QEMU disconnects, unless --persist is given.
            """)

    @Option(name: .long, help: ArgumentHelp("vhost-user socket to create for QEMU's -chardev.", valueName: "PATH.vhost"))
    var socket: String

    @Option(name: .long, help: ArgumentHelp("Hybrid vsock socket to create for host programs.", valueName: "PATH"))
    var uds: String

    @Option(name: .customLong("guest-cid"), help: "The guest's vsock CID (3 to 4294967294).")
    var guestCID: UInt64

    @Flag(name: .long, help: "Keep running after QEMU disconnects and wait for the next one.")
    var persist = false

    @Option(name: .customLong("buffer-size"), help: "Per-connection receive buffer announced to the guest (buf_alloc), in bytes.")
    var bufferSize: UInt32 = 256 * 1024

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the guest to answer a CONNECT.")
    var connectTimeout: UInt64 = 10

    @Option(name: .customLong("max-connections"),
            help: "Connections served at once, both directions (more are refused: RST to the guest, a closed socket to the host).")
    var maxConnections = 1024

    @Flag(name: .customLong("no-event-idx"), help: "Do not offer VIRTIO_RING_F_EVENT_IDX.")
    var noEventIndex = false

    @Flag(name: .customLong("no-indirect"), help: "Do not offer VIRTIO_RING_F_INDIRECT_DESC.")
    var noIndirect = false

    @Flag(name: [.short, .long], help: "Log every vhost-user request and vsock packet.")
    var verbose = false

    func validate() throws {
        guard bufferSize >= 4096 else { throw ValidationError("--buffer-size \(bufferSize) is below 4096 bytes") }
        guard connectTimeout > 0 else { throw ValidationError("--connect-timeout must be at least 1 second") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
    }

    func run() throws {
        var configuration = BridgeConfiguration(socketPath: socket, udsPath: uds, guestCID: guestCID)
        configuration.persist = persist
        configuration.muxer.bufferSize = bufferSize
        configuration.muxer.timeouts.connect = connectTimeout * 1_000_000_000
        configuration.muxer.maximumConnections = maxConnections
        // Each connection holds a host socket: use what the hard limit allows (EMFILE is still survived).
        Processes.raiseOpenFileLimit()
        configuration.ringFeatures = VirtqueueFeatures(eventIndex: !noEventIndex, indirectDescriptors: !noIndirect)
        configuration.log = BridgeLog(level: verbose ? .debug : .info)
        do {
            try Bridge(configuration).run()
        } catch {
            configuration.log.error(error.description)
            throw ExitCode(1)
        }
    }
}

GuestVsockBridge.main()
