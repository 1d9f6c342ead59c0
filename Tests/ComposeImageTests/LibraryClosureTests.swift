// The closure resolver on small ELFs the test builds with gcc: $ORIGIN RUNPATH placement, inherited RPATH,
// ld.so.conf-only directories, and the error for a library nobody can find.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

@Suite
struct LibraryClosureTests {
    init() throws {
        try #require(Command.exists("gcc"), "gcc is needed to build the test's ELFs")
    }

    /// Builds lib<name>.so.1 (soname libNAME.so.1) from one function, optionally linked against other libraries.
    static func library(_ name: String, in dir: String, linking: [(String, String)] = [], extra: [String] = []) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = dir + "/\(name).c"
        let calls = linking.map { "\($0.0)_fn();" }.joined()
        let decls = linking.map { "int \($0.0)_fn(void);" }.joined()
        try "\(decls) int \(name)_fn(void) { \(calls) return 1; }\n".write(toFile: source, atomically: true, encoding: .utf8)
        var args = ["gcc", "-shared", "-fPIC", "-o", dir + "/lib\(name).so.1", "-Wl,-soname,lib\(name).so.1", source]
        for (lib, libDir) in linking { args += ["-L", libDir, "-l:lib\(lib).so.1"] }
        let result = try Command.run(args + extra)
        #expect(result.succeeded, "\(result)")
    }

    static func executable(_ path: String, calling libs: [(String, String)], extra: [String]) throws {
        let source = path + ".c"
        let decls = libs.map { "int \($0.0)_fn(void);" }.joined()
        let calls = libs.map { "\($0.0)_fn();" }.joined()
        try "\(decls) int main(void) { \(calls) return 0; }\n".write(toFile: source, atomically: true, encoding: .utf8)
        var args = ["gcc", "-o", path, source]
        for (lib, dir) in libs { args += ["-L", dir, "-l:lib\(lib).so.1"] }
        let result = try Command.run(args + extra)
        #expect(result.succeeded, "\(result)")
    }

    @Test func originRunpathPlacesTheLibraryBesideTheInstalledBinary() throws {
        let scratch = try ScratchDirectory("gk-origin")
        try Self.library("gkorigin", in: scratch.file("app/lib"))
        try FileManager.default.createDirectory(atPath: scratch.file("app/bin"), withIntermediateDirectories: true)
        try Self.executable(scratch.file("app/bin/app"), calling: [("gkorigin", scratch.file("app/lib"))],
                            extra: ["-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib"])
        let closure = try LibraryClosure().resolve([.init(hostPath: scratch.file("app/bin/app"), guestPath: "/opt/tool/bin/app", role: "--add")])
        let placed = try #require(closure.first { $0.guestPath.hasSuffix("libgkorigin.so.1") })
        #expect(placed.guestPath == "/opt/tool/lib/libgkorigin.so.1")
        #expect(closure.contains { $0.guestPath == "/lib/x86_64-linux-gnu/libc.so.6" })
        #expect(closure.contains { $0.guestPath == "/lib64/ld-linux-x86-64.so.2" })
    }

    @Test func rpathIsInheritedButRunpathIsNot() throws {
        let scratch = try ScratchDirectory("gk-rpath")
        let dir = scratch.file("private")
        try Self.library("gkleaf", in: dir)
        // gkmid needs gkleaf but has no search path of its own: only an inherited RPATH finds gkleaf.
        try Self.library("gkmid", in: scratch.file("mid"), linking: [("gkleaf", dir)])
        try FileManager.default.createDirectory(atPath: scratch.file("bin"), withIntermediateDirectories: true)
        let rpathExe = scratch.file("bin/with-rpath"), runpathExe = scratch.file("bin/with-runpath")
        let libs = [("gkmid", scratch.file("mid")), ("gkleaf", dir)]
        try Self.executable(rpathExe, calling: libs, extra: ["-Wl,--disable-new-dtags", "-Wl,-rpath,\(scratch.file("mid")):\(dir)"])
        try Self.executable(runpathExe, calling: [("gkmid", scratch.file("mid"))],
                            extra: ["-Wl,--enable-new-dtags", "-Wl,-rpath,\(scratch.file("mid"))", "-Wl,-rpath-link,\(dir)"])
        let inherited = try LibraryClosure().resolve([.init(hostPath: rpathExe, guestPath: "/bin/a", role: "test")])
        #expect(inherited.contains { $0.guestPath == dir + "/libgkleaf.so.1" })
        do {
            _ = try LibraryClosure().resolve([.init(hostPath: runpathExe, guestPath: "/bin/b", role: "test")])
            Issue.record("a RUNPATH must not be inherited: libgkleaf.so.1 should be unresolvable")
        } catch let ComposeError.unresolvedLibrary(library, neededBy, searched) {
            // The error names the library and the object that needs it (gkmid, not the executable).
            #expect(library == "libgkleaf.so.1")
            #expect(neededBy.hasSuffix("mid/libgkmid.so.1"))
            #expect(!searched.contains(dir))
        }
    }

    @Test func ldSoConfDirectoriesLandInASystemDirectory() throws {
        let scratch = try ScratchDirectory("gk-ldconf")
        let dir = scratch.file("conf")
        try Self.library("gkconf", in: dir)
        try Self.executable(scratch.file("tool"), calling: [("gkconf", dir)], extra: [])
        let search = LoaderSearchPath(configured: [dir], system: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"])
        let closure = try LibraryClosure(searchPath: search).resolve([.init(hostPath: scratch.file("tool"), guestPath: "/usr/bin/tool", role: "t")])
        // A composed guest has no ld.so.cache, so the library goes where the guest's loader looks by default.
        #expect(closure.contains { $0.guestPath == "/lib/x86_64-linux-gnu/libgkconf.so.1" && $0.hostPath.hasSuffix("conf/libgkconf.so.1") })
    }

    @Test func hostLdSoConfIsRead() {
        let search = LoaderSearchPath.host()
        #expect(search.configured.contains("/usr/lib/x86_64-linux-gnu"), "Debian's x86_64-linux-gnu.conf: \(search.configured)")
        #expect(search.system == ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"])
    }

    @Test
    func composeFailsNamingTheBinaryWhoseLibraryIsMissing() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
        let scratch = try ScratchDirectory("gk-missing")
        let dir = scratch.file("gone")
        try Self.library("gkgone", in: dir)
        try Self.executable(scratch.file("needy"), calling: [("gkgone", dir)], extra: [])
        try FileManager.default.removeItem(atPath: dir + "/libgkgone.so.1")
        let image = scratch.file("guest.img")
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--add", scratch.file("needy") + ":/usr/bin/needy",
                                            "-o", image])
        #expect(!result.succeeded)
        #expect(result.stderr.contains("needy needs libgkgone.so.1"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: image))
    }

    @Test
    func addedExecutableBringsItsOriginLibraryIntoTheImage() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
        let scratch = try ScratchDirectory("gk-add-origin")
        try Self.library("gkadded", in: scratch.file("pkg/lib"))
        try FileManager.default.createDirectory(atPath: scratch.file("pkg/bin"), withIntermediateDirectories: true)
        try Self.executable(scratch.file("pkg/bin/hello"), calling: [("gkadded", scratch.file("pkg/lib"))],
                            extra: ["-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../lib"])
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--add", scratch.file("pkg/bin/hello") + ":/opt/hello/bin/hello", "-o", image])
        let root = scratch.file("root")
        try ImageTest.extract(image, format: "ext4", into: root)
        #expect(FileManager.default.fileExists(atPath: root + "/opt/hello/lib/libgkadded.so.1"))
        let (checked, problems) = try ImageTest.closureProblems(root: root)
        #expect(problems.isEmpty, "\(problems)")
        #expect(checked >= 4)
    }
}
