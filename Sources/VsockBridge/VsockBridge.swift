// VsockBridge gives a guest under plain QEMU the vsock that Firecracker and Cloud Hypervisor give theirs:
// a Unix socket on the host where `CONNECT <port>\n` reaches a guest port, and `<socket>_<port>` files
// where guest connections to CID 2 arrive. It is a vhost-user back-end for QEMU's `vhost-user-vsock-pci`
// device, so it needs no root and no kernel module (QEMU's own vhost-vsock needs /dev/vhost-vsock).
//
// It owns the vhost-user session (VhostUserBackend, VhostUserMessage, VhostUserChannel), guest memory
// and split virtqueues (GuestMemory, Virtqueue, DescriptorChain), the vsock packet format, connection
// state machine and routing (VsockPacket, VsockConnection, VsockMuxer), and the host side of the
// handshake (PendingHybridClient). Everything runs on one thread around one epoll set (EventLoop). Starting
// QEMU, the guest kernel and its vsock users are someone else's business; so is AF_VSOCK on the host,
// which the bridge never touches.
import GuestSys

/// What a bridge serves and how.
public struct BridgeConfiguration: Sendable {
    /// The vhost-user socket QEMU connects to (`-chardev socket,path=…`).
    public var socketPath: String
    /// The hybrid vsock socket host programs connect to; guest connections to port P go to `<udsPath>_P`.
    public var udsPath: String
    /// The guest's CID, reported in the device's config space.
    public var guestCID: UInt64
    /// Keep serving after QEMU disconnects, waiting for the next QEMU.
    public var persist = false
    public var muxer = VsockMuxer.Settings()
    /// Which ring features to offer (both by default; turning them off exercises the plain paths).
    public var ringFeatures = VirtqueueFeatures(eventIndex: true, indirectDescriptors: true)
    public var log = BridgeLog()
    /// Block SIGINT, SIGTERM and SIGHUP and end `run` cleanly on them (the executable's choice; a test
    /// hosting a bridge in its own process leaves its signals alone).
    public var handleSignals = true

    public init(socketPath: String, udsPath: String, guestCID: UInt64) {
        self.socketPath = socketPath
        self.udsPath = udsPath
        self.guestCID = guestCID
    }

    /// Checks what the kernel would reject later with a less helpful error.
    public func validate() throws(BridgeError) {
        // CIDs 0-2 are reserved (hypervisor, local, host) and u32 max is VMADDR_CID_ANY.
        guard guestCID >= 3, guestCID < 0xFFFF_FFFF else {
            throw BridgeError("guest CID \(guestCID) is reserved; use 3 to 4294967294")
        }
        // sun_path holds 107 bytes plus the NUL; `<uds>_<port>` must fit as well.
        for (name, path) in [("--socket", socketPath), ("--uds", udsPath + "_4294967295")] where path.utf8.count > 107 {
            throw BridgeError("\(name) path \(path) is longer than a Unix socket path may be (107 bytes)")
        }
        guard socketPath != udsPath else { throw BridgeError("--socket and --uds must be different paths") }
    }
}

/// A configuration or start-up problem, said plainly.
public struct BridgeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The bridge: listens for QEMU and for host clients, serves until QEMU leaves (or a signal arrives).
public final class Bridge {
    public let configuration: BridgeConfiguration
    private let loop: EventLoop
    private let muxer: VsockMuxer
    private let device: VsockDevice
    private let vhostListener: FileDescriptor
    private let hybridListener: FileDescriptor
    private let signals: SignalDescriptor?
    private var session: VhostUserBackend?
    /// A QEMU that connected while another was served (only with `persist`).
    private var waitingFrontEnd: FileDescriptor?
    private var running = true
    /// What the session's socket is watched for.
    private var sessionInterest: PollEvents = .readable
    private var log: BridgeLog { configuration.log }

    /// Creates both listening sockets (replacing stale socket files) and blocks SIGINT/SIGTERM/SIGHUP,
    /// which end `run` cleanly.
    public init(_ configuration: BridgeConfiguration) throws(BridgeError) {
        try configuration.validate()
        self.configuration = configuration
        do throws(SysError) {
            loop = try EventLoop()
            if configuration.handleSignals {
                let handled = SignalSet([Signal.interrupt, Signal.terminate, Signal.hangup])
                try handled.block()
                signals = try SignalDescriptor(handled)
            } else {
                signals = nil
            }
            vhostListener = try Sockets.listen(.unix(configuration.socketPath), backlog: 4)
        } catch {
            throw BridgeError("cannot listen for QEMU at \(configuration.socketPath): \(error)")
        }
        do throws(SysError) {
            hybridListener = try Sockets.listen(.unix(configuration.udsPath), backlog: 128)
        } catch {
            vhostListener.closeQuietly()
            try? FileSystem.unlink(configuration.socketPath)
            throw BridgeError("cannot listen for host clients at \(configuration.udsPath): \(error)")
        }
        Signal.ignore(Signal.pipe)
        muxer = VsockMuxer(guestCID: configuration.guestCID, udsPath: configuration.udsPath,
                           settings: configuration.muxer, loop: loop, log: configuration.log)
        device = VsockDevice(muxer: muxer, loop: loop, log: configuration.log)
    }

    /// Serves until QEMU disconnects (unless `persist`) or a termination signal; then closes every
    /// connection and removes the socket files.
    public func run() throws(BridgeError) {
        do throws(SysError) {
            try loop.add(vhostListener, .readable) { [unowned self] _ in self.acceptQEMU() }
            try loop.add(hybridListener, .readable) { [unowned self] _ in self.muxer.acceptHostClients(from: self.hybridListener) }
            if let signals {
                try loop.add(signals.fd, .readable) { [unowned self] _ in
                    let names = ((try? signals.readAll()) ?? []).map { Signal.name($0.signal) }
                    self.log.info("\(names.joined(separator: ", ")) received; shutting down")
                    self.running = false
                }
            }
        } catch {
            throw BridgeError("setting up the event loop: \(error)")
        }
        log.info("waiting for QEMU on \(configuration.socketPath); host clients on \(configuration.udsPath) (guest CID \(configuration.guestCID))")
        defer { shutdown() }
        while running {
            let timeout: Int32
            if let deadline = [muxer.nextDeadline, loop.nextResume].compactMap({ $0 }).min() {
                let now = Clock.monotonicNanoseconds
                timeout = deadline <= now ? 0 : Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
            } else {
                timeout = -1
            }
            do throws(SysError) { try loop.runOnce(timeoutMilliseconds: timeout) } catch {
                throw BridgeError("event loop: \(error)")
            }
            muxer.expireDeadlines()
            loop.resumeDue()
            // Host sockets and timers may have produced packets for the guest.
            device.processRx()
        }
    }

    private func acceptQEMU() {
        let accepted: FileDescriptor?
        do throws(SysError) { accepted = try Sockets.accept(vhostListener) } catch {
            log.error("accepting on \(configuration.socketPath): \(error)")
            loop.pauseAfterAcceptFailure(vhostListener, error)
            return
        }
        guard let fd = accepted else { return }
        if session != nil {
            // With --persist, the next QEMU may connect before the previous one's end of file is read:
            // hold it until then. A third is refused.
            if configuration.persist && waitingFrontEnd == nil {
                waitingFrontEnd = fd
                log.info("another QEMU connected; it is served when the current one leaves")
            } else {
                log.warning("another front-end connected to \(configuration.socketPath) while one is served; closed it")
                fd.closeQuietly()
            }
            return
        }
        serve(fd)
    }

    private func serve(_ fd: FileDescriptor) {
        let backend = VhostUserBackend(channel: VhostUserChannel(fd: fd), device: device, log: log,
                                       ringFeatures: configuration.ringFeatures)
        do throws(SysError) {
            try loop.add(fd, .readable) { [unowned self] events in self.sessionEvent(events) }
        } catch {
            log.error("watching the vhost-user connection: \(error)")
            fd.closeQuietly()
            return
        }
        session = backend
        sessionInterest = .readable
        log.info("QEMU connected")
    }

    private func sessionEvent(_ events: PollEvents) {
        guard let backend = session else { return }
        let reason: String
        do throws(VhostUserError) {
            if events.contains(.writable) { try backend.channel.flush() }
            if try backend.handleAvailable() {
                // Watch for room only while replies wait for it.
                let wanted: PollEvents = backend.channel.hasPendingOutput ? [.readable, .writable] : .readable
                if wanted != sessionInterest {
                    try? loop.modify(backend.channel.fd, wanted)
                    sessionInterest = wanted
                }
                return
            }
            reason = "QEMU disconnected"
        } catch {
            reason = "vhost-user protocol error: \(error.description)"
            log.error(reason)
        }
        loop.remove(backend.channel.fd)
        backend.close(reason: reason)
        session = nil
        log.info("\(reason); \(configuration.persist ? "waiting for the next QEMU" : "exiting")")
        if !configuration.persist {
            running = false
        } else if let next = waitingFrontEnd {
            waitingFrontEnd = nil
            serve(next)
        }
    }

    private func shutdown() {
        if let backend = session {
            loop.remove(backend.channel.fd)
            backend.close(reason: "the bridge is shutting down")
            session = nil
        }
        waitingFrontEnd?.closeQuietly()
        muxer.closeAll(reason: "the bridge is shutting down")
        vhostListener.closeQuietly()
        hybridListener.closeQuietly()
        try? FileSystem.unlink(configuration.socketPath)
        try? FileSystem.unlink(configuration.udsPath)
    }
}
