import ContainerdShim
import Testing

/// The command lines containerd 1.6 gives the shim binary, and the ones it must refuse.
struct ShimArgumentsTests {
    @Test func readsStart() throws {
        let a = try ShimArguments(["-namespace", "default", "-address", "/run/containerd/containerd.sock",
                                   "-publish-binary", "/usr/bin/containerd", "-id", "c1", "-debug", "start"])
        #expect(a.action == .start && a.namespace == "default" && a.id == "c1" && a.debug)
        #expect(a.address == "/run/containerd/containerd.sock" && a.publishBinary == "/usr/bin/containerd")
    }

    @Test func readsDeleteWithBundleAndInlineValues() throws {
        let a = try ShimArguments(["--namespace=k8s.io", "-address=/a.sock", "-publish-binary", "/bin/c", "-id", "x",
                                   "-bundle", "/state/k8s.io/x", "delete"])
        #expect(a.action == .delete && a.namespace == "k8s.io" && a.bundle == "/state/k8s.io/x" && !a.debug)
    }

    @Test func noActionServes() throws {
        #expect(try ShimArguments(["-namespace", "n", "-id", "i"]).action == .serve)
    }

    @Test(arguments: [
        (["-namespace", "n", "-id", "i", "stop"], "unknown action \"stop\""),
        (["-namespace", "n", "start"], "-id is required"),
        (["-id", "i", "start"], "-namespace is required"),
        (["-namespace", "n", "-id", "../etc", "start"], "must be 1-76 characters"),
        (["-namespace", "n", "-id", "i", "-colour", "start"], "unknown flag -colour"),
        (["-namespace", "n", "-id"], "flag -id needs a value"),
        (["-namespace", "n", "-id", "i", "start", "delete"], "one action at most"),
        (["-namespace", "n", "-id", "i", "-debug=maybe"], "-debug=maybe"),
    ])
    func refuses(arguments: [String], message: String) {
        #expect {
            try ShimArguments(arguments)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
