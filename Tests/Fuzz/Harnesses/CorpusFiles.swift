import GuestSys

/// The corpus on disk: Tests/Fuzz/corpus/<harness>/ holds the seeds and every crash input found (named
/// `crash-…` by libFuzzer), which stay there as regression inputs.
public enum CorpusFiles {
    /// One input and where it came from.
    public struct Input: Sendable {
        public let path: String
        public let bytes: [UInt8]
    }

    /// The files at `path` (a file, or every regular file in a directory, sorted).
    public static func inputs(at path: String) -> [Input] {
        if let status = try? FileSystem.status(path), status.isDirectory {
            let names = ((try? FileSystem.listDirectory(path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            return names.flatMap { inputs(at: path + "/" + $0) }
        }
        guard let fd = try? FileDescriptor.open(path, .readOnly) else { return [] }
        defer { fd.closeQuietly() }
        return [Input(path: path, bytes: (try? fd.readToEnd(limit: 16 << 20)) ?? [])]
    }

    /// Writes every harness's seeds as `<directory>/<harness>/seed-<n>`.
    public static func writeSeeds(to directory: String) throws(SysError) {
        for harness in FuzzHarness.allCases {
            let folder = directory + "/" + harness.rawValue
            try FileSystem.makeDirectories(folder)
            for (index, seed) in harness.seeds.enumerated() {
                let fd = try FileDescriptor.open(folder + "/seed-\(index)", [.writeOnly, .create, .truncate])
                defer { fd.closeQuietly() }
                try fd.writeAll(seed)
            }
        }
    }
}
