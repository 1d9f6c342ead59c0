import GuestSys

/// `guest.rescue=1`: after a fatal boot error, a shell on the console instead of an immediate
/// power-off, so someone on the serial console can look around. Init keeps reaping while it runs.
enum RescueShell {
    static let path = "/bin/sh"

    /// Runs the shell until it exits (or a shutdown signal arrives). False when there is no shell.
    static func run(console: Console, signals: SignalDescriptor) -> Bool {
        guard Spawner.resolve(path, path: "") != nil else {
            console.error("guest.rescue=1, but there is no \(path)")
            return false
        }
        var request = SpawnRequest(path: path, arguments: ["sh"], environment: [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux",
            "PS1=(guest-init rescue) # ",
        ], workingDirectory: "/", descriptors: [0: .standardInput, 1: .standardOutput, 2: .standardError])
        request.newSession = true
        request.controllingTerminal = FileDescriptor.standardInput.isTerminal
        let shell: Int32
        do throws(SpawnError) { shell = try Spawner.spawn(request) } catch {
            console.error("cannot start the rescue shell: \(error)")
            return false
        }
        console.info("rescue shell started (pid \(shell)); exit it to power off")
        guard let poller = try? Poller(), (try? poller.add(signals.fd, .readable)) != nil else { return true }
        defer { poller.fd.closeQuietly() }
        while true {
            _ = try? poller.wait(max: 1)
            for info in (try? signals.readAll()) ?? [] where info.signal != Signal.child {
                if info.signal == Signal.terminate || info.signal == Signal.power || info.signal == Signal.interrupt {
                    return true
                }
            }
            if Reaper.reapAll().exited.contains(where: { $0.pid == shell }) { return true }
        }
    }
}
