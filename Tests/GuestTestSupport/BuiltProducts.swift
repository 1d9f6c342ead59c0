// Shared by the test targets: where the built executables are, running commands, scratch directories.
import Foundation

/// The executables SwiftPM built beside the test bundle (same configuration, same scratch path).
public enum BuiltProducts {
    /// The directory holding the test bundle and the package's executables.
    public static var directory: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The runner may be inside `<Name>.xctest/` on some toolchains.
        while dir.pathExtension == "xctest" || dir.lastPathComponent == "usr" { dir = dir.deletingLastPathComponent() }
        return dir
    }

    /// The path of a built executable product, e.g. `path("guest-agent")`.
    public static func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    /// The repository root (the directory holding Package.swift).
    public static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }
}
