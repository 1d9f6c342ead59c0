import ComposeImage
import Foundation
import GuestTestSupport
import Testing

/// The staging tree never reaches the host through a symlink the input made: a layer or an addition may
/// stage `bin -> /usr/bin`, and replacing or removing that entry must not touch the host's /usr/bin.
struct RootTreeTests {
    @Test(arguments: ["replaced by a file", "replaced by a symlink", "removed", "removed by a whiteout"])
    func aSymlinkToAHostDirectoryLeavesThatDirectoryAsItWas(how: String) throws {
        let host = try ScratchDirectory("gk-host-dir")
        chmod(host.path, 0o751)
        let scratch = try ScratchDirectory("gk-tree")
        let tree = try RootTree(staging: scratch.file("staging"))
        defer { tree.discard() }
        try tree.addSymlink("/bin", target: host.path)
        switch how {
        case "replaced by a file": try tree.addFile("/bin", contents: Data("x".utf8), permissions: 0o644)
        case "replaced by a symlink": try tree.addSymlink("/bin", target: "usr/bin")
        case "removed": try tree.remove("/bin")
        default: try tree.remove("/bin", keeping: [])
        }
        var info = stat()
        #expect(stat(host.path, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o751, "the host directory's mode became \(String(info.st_mode & 0o7777, radix: 8))")
    }
}
