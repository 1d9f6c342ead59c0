import GuestSys
import Testing
@testable import GuestAgent

@Suite struct AccountDatabaseTests {
    static let passwd = """
        root:x:0:0:root:/root:/bin/sh
        # a comment
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

        alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
        broken:x:notanumber:5:b:/b:/bin/sh
        short:x:7
        +nisuser::::::
        bob:x:1001:100::/home/bob:/bin/sh
        """
    static let group = """
        root:x:0:
        users:x:100:alice
        staff:x:50:alice, bob
        docker:x:999:bob
        bad:x:nope:alice
        """
    let db = AccountDatabase(passwd: passwd, group: group)

    @Test func skipsCommentsBlankNisAndMalformedLines() {
        #expect(db.users.map(\.name) == ["root", "daemon", "alice", "bob"])
        #expect(db.groups.map(\.name) == ["root", "users", "staff", "docker"])
        #expect(db.groups.first { $0.name == "staff" }?.members == ["alice", "bob"])
    }

    @Test(arguments: [
        // spec, uid, gid, supplementary groups, home
        ("alice", UInt32(1000), UInt32(1000), [UInt32(100), 50], "/home/alice" as String?),
        ("bob", 1001, 100, [50, 999], "/home/bob"),
        ("root", 0, 0, [], "/root"),
        ("1000", 1000, 1000, [100, 50], "/home/alice"),
        ("4242", 4242, 0, [], nil),
        ("alice:staff", 1000, 50, [100, 50], "/home/alice"),
        ("alice:77", 1000, 77, [100, 50], "/home/alice"),
        ("4242:4343", 4242, 4343, [], nil),
    ])
    func resolves(spec: String, uid: UInt32, gid: UInt32, groups: [UInt32], home: String?) throws {
        let user = try db.resolve(spec: spec)
        #expect(user.identity == ProcessIdentity(uid: uid, gid: gid, groups: groups))
        #expect(user.home == home)
    }

    @Test(arguments: [
        ("carol", "no user \"carol\" in the guest's /etc/passwd"),
        ("alice:wheel", "no group \"wheel\" in the guest's /etc/group"),
        (":staff", "user \":staff\" names no user"),
        ("alice:", "user \"alice:\" has an empty group after ':'"),
    ])
    func refuses(spec: String, message: String) {
        #expect(throws: AgentError.self) { try db.resolve(spec: spec) }
        do {
            _ = try db.resolve(spec: spec)
        } catch {
            #expect(error.description == message)
        }
    }
}
