// Image size and compose time of the default guest (guest-init + guest-agent + their library closure + the
// skeleton) in each format. Goals: at most 16 MiB and 3 s. Prints figures; asserts nothing.
import ArgumentParser
import ComposeImage
import Foundation
import GuestLaunch
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
        print(String(format: "  %-16@ %12@ %10@ %9@", "format" as NSString, "bytes" as NSString, "MiB" as NSString, "seconds" as NSString))
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
            print(String(format: "  %-16@ %12llu %10.2f %9.3f", name as NSString, size, Double(size) / 1_048_576, median))
        }
        if let sample = try? ImageComposer(spec: {
            var spec = ImageSpec()
            spec.initPath = self.`init`
            spec.agentPath = agent
            spec.output = scratch + "/closure.img"
            return spec
        }(), logger: logger).compose() {
            let libraries = sample.manifest.contents.libraries
            print("  closure: \(libraries.count) files: \(libraries.joined(separator: " "))")
        }
    }
}
