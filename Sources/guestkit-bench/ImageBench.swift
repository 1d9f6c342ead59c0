// Image size and compose time of the default guest (guest-init + guest-agent + their library closure + the
// skeleton) in each format. Goals: at most 16 MiB and 3 s. Prints figures; asserts nothing.
import ArgumentParser
import ComposeImage
import Foundation
import GuestLaunch
import HostProcess
import Logging

struct ImageBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image",
                                                    abstract: "Compose the default guest in each format; print size and time.")

    @Option(help: "guest-init executable (use the release, static-stdlib build).") var `init`: String
    @Option(help: "guest-agent executable.") var agent: String
    @Option(help: "Runs per format (the median is printed).") var runs: Int = 3
    @Flag(inversion: .prefixedNo, help: "Strip the installed init and agent (as make guest-image does).") var strip = true

    func run() throws {
        let variants: [(String, ImageSpec.Format, Bool, String?)] = [
            ("ext4", .ext4, false, nil), ("ext4 --dax", .ext4, true, nil), ("erofs", .erofs, false, nil),
            ("erofs lz4hc", .erofs, false, "lz4hc"), ("initramfs gzip", .initramfs, false, "gzip"),
            ("initramfs zstd", .initramfs, false, "zstd"),
        ]
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gk-bench-image-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        print("image: default guest = \(self.`init`) + \(agent)\(strip ? " (stripped)" : "") + closure + skeleton; median of \(runs) runs (goals: <= 16 MiB, <= 3 s)")
        print("  " + "format".padding(toLength: 16, withPad: " ", startingAt: 0) + "bytes".leftPad(13) + "MiB".leftPad(11) + "seconds".leftPad(10))
        for (name, format, dax, compression) in variants {
            var times: [Double] = []
            var result: ComposeResult?
            for index in 0..<max(1, runs) {
                var spec = ImageSpec()
                spec.initPath = self.`init`
                spec.agentPath = agent
                spec.format = format
                spec.dax = dax
                spec.compression = compression
                spec.strip = strip
                spec.output = scratch + "/\(index)-" + name.replacingOccurrences(of: " ", with: "_")
                let start = DispatchTime.now().uptimeNanoseconds
                result = try ImageComposer(spec: spec, logger: logger, launchSections: ManifestLaunchWriter()).compose()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            guard let result else { continue }
            let size = result.manifest.image.size
            let median = times.sorted()[times.count / 2]
            print("  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + "\(size)".leftPad(13)
                  + String(format: "%11.2f%10.3f", Double(size) / 1_048_576, median))
        }
        try whereTheBytesGo(scratch: scratch)
    }

    /// The files of the default image by size (init and agent as stripped in the image, each library as on
    /// the host), and which object's DT_NEEDED brought each library in.
    func whereTheBytesGo(scratch: String) throws {
        var roots = [LibraryClosure.Root(hostPath: self.`init`, guestPath: ImageSpec.initGuestPath, role: "--init")]
        let multiCall = ImageComposer.sameFile(agent, self.`init`)
        if !multiCall { roots.append(.init(hostPath: agent, guestPath: ImageSpec.agentGuestPath, role: "--agent")) }
        let libraries = try LibraryClosure().resolve(roots)
        var files: [(path: String, bytes: UInt64)] = []
        for root in roots {
            let stripped = scratch + "/stripped-" + (root.guestPath as NSString).lastPathComponent
            var command = ChildCommand("strip", ["--strip-unneeded", "-o", stripped, root.hostPath])
            command.error = .capture
            let result = try command.run(timeout: .seconds(120))
            let bytes = result.succeeded ? fileSize(stripped) : fileSize(root.hostPath)
            files.append((root.guestPath + (multiCall ? " (init and agent: one multi-call binary)" : ""), bytes))
        }
        for library in libraries { files.append((library.guestPath, fileSize(library.hostPath))) }
        let total = files.reduce(0) { $0 + $1.bytes }
        print(String(format: "  where the bytes go: %d files, %.2f MiB before the filesystem's own; the ten largest:", files.count,
                     Double(total) / 1_048_576))
        for file in files.sorted(by: { $0.bytes > $1.bytes }).prefix(10) {
            print(String(format: "    %9.2f MiB  %@", Double(file.bytes) / 1_048_576, file.path as NSString))
        }
        print("  libraries pulled in, by the object that needs them (DT_NEEDED / PT_INTERP):")
        let byNeeder = Dictionary(grouping: libraries, by: \.neededBy)
        for needer in byNeeder.keys.sorted() {
            let names = byNeeder[needer, default: []].map { ($0.guestPath as NSString).lastPathComponent }.sorted()
            print("    \((needer as NSString).lastPathComponent): \(names.joined(separator: " "))")
        }
    }

    func fileSize(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }
}
