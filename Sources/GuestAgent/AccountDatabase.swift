import GuestSys

/// One line of /etc/passwd.
struct PasswdEntry: Equatable, Sendable {
    var name: String
    var uid: UInt32
    var gid: UInt32
    var home: String
    var shell: String
}

/// One line of /etc/group.
struct GroupEntry: Equatable, Sendable {
    var name: String
    var gid: UInt32
    var members: [String]
}

/// Who a process runs as once a user spec is resolved: ids plus the home directory for HOME.
struct ResolvedUser: Equatable, Sendable {
    var identity: ProcessIdentity
    var home: String?
}

/// The guest's users and groups, read straight from /etc/passwd and /etc/group. No NSS: the guest has no
/// name service, and glibc's NSS modules would pull shared libraries into a static agent.
struct AccountDatabase: Sendable {
    var users: [PasswdEntry]
    var groups: [GroupEntry]

    /// Parses the two files' text. Comments, blank lines, NIS "+"/"-" entries and lines with too few fields
    /// or non-numeric ids are skipped, as getpwent(3) would.
    init(passwd: String, group: String) {
        users = passwd.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 7, let first = f[0].first, first != "#", first != "+", first != "-",
                  let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: String(f[5]), shell: String(f[6]))
        }
        groups = group.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, let first = f[0].first, first != "#", first != "+", first != "-",
                  let gid = UInt32(f[2]) else { return nil }
            let members = f[3].split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            return GroupEntry(name: String(f[0]), gid: gid, members: members)
        }
    }

    /// Reads `<root>/etc/passwd` and `<root>/etc/group`; a missing file counts as empty.
    static func load(root: String = "") -> AccountDatabase {
        let passwd = (try? FileSystem.readText(root + "/etc/passwd")) ?? ""
        let group = (try? FileSystem.readText(root + "/etc/group")) ?? ""
        return AccountDatabase(passwd: passwd, group: group)
    }

    /// Resolves Docker's `-u` syntax: "name", "uid", "name:group", "uid:gid" (a group by name or number).
    /// Without an explicit group the user's passwd gid is used (0 for a uid not in passwd). Supplementary
    /// groups are every /etc/group entry that lists the user by name.
    func resolve(spec: String) throws(AgentError) -> ResolvedUser {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0]
        guard !userPart.isEmpty else { throw .invalidRequest("user \"\(spec)\" names no user") }
        let entry: PasswdEntry?
        let uid: UInt32
        if let number = UInt32(userPart) {
            entry = users.first { $0.uid == number }
            uid = number
        } else {
            guard let found = users.first(where: { $0.name == userPart }) else { throw .noSuchUser(userPart) }
            entry = found
            uid = found.uid
        }
        var gid = entry?.gid ?? 0
        if parts.count == 2 {
            let groupPart = parts[1]
            guard !groupPart.isEmpty else { throw .invalidRequest("user \"\(spec)\" has an empty group after ':'") }
            if let number = UInt32(groupPart) {
                gid = number
            } else {
                guard let found = groups.first(where: { $0.name == groupPart }) else { throw .noSuchGroup(groupPart) }
                gid = found.gid
            }
        }
        var supplementary: [UInt32] = []
        if let name = entry?.name {
            for group in groups where group.members.contains(name) && !supplementary.contains(group.gid) {
                supplementary.append(group.gid)
            }
        }
        return ResolvedUser(identity: ProcessIdentity(uid: uid, gid: gid, groups: supplementary), home: entry?.home)
    }

    /// The passwd entry of a uid, for HOME when the host gave numeric ids.
    func user(uid: UInt32) -> PasswdEntry? { users.first { $0.uid == uid } }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
