#if canImport(Glibc)
import Glibc
#endif
import GuestSys

/// A copy of a directory tree's content (files, directories, symlinks, with modes and owners), for
/// `tmpcopyup`.
enum TreeCopy {
    static func copy(from source: String, to target: String) throws(ContainerError) {
        do throws(SysError) {
            try copyTree(from: source, to: target)
        } catch {
            throw ContainerError.step("copy \(source) into its tmpfs (tmpcopyup)", error)
        }
    }

    static func copyTree(from source: String, to target: String) throws(SysError) {
        for name in try FileSystem.listDirectory(source) {
            let from = source + "/" + name, to = target + "/" + name
            let st = try FileSystem.status(from, followSymlinks: false)
            if st.isDirectory {
                try FileSystem.makeDirectory(to, mode: mode_t(st.permissions))
                try copyTree(from: from, to: to)
            } else if st.isSymlink {
                try FileSystem.symlink(target: try FileSystem.readLink(from), at: to)
            } else if st.isRegular {
                try FileSystem.writeFile(to, try FileSystem.readFile(from, limit: Int.max), mode: mode_t(st.permissions))
            } else {
                try FileSystem.makeNode(to, mode: st.mode, major: st.deviceNumbers.major, minor: st.deviceNumbers.minor)
            }
            try FileSystem.changeOwner(to, uid: st.uid, gid: st.gid)
            if !st.isSymlink { try FileSystem.changeMode(to, mode_t(st.permissions)) }
        }
    }
}
