// swift-tools-version: 6.1
// GuestKit: the guest side of micro-VM containers (init, agent) and the host tools that bake and reach it.
import PackageDescription

/// Swift 6 language mode with complete concurrency checking everywhere.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// guest-init links glibc, libkmod and libblkid only. `--static-swift-stdlib` still asks for the shared
/// libstdc++ and libgcc_s (static-stdlib-args.lnk says -lstdc++): in release builds libgcc comes in
/// statically and `-lstdc++` finds StaticLink/libstdc++.a (a link to gcc's static archive) before the
/// shared one, because clang puts user -L directories ahead of its own. Where that link dangles (no
/// gcc 12), the linker skips it and the shared libstdc++ is used as before.
/// The guest binaries link the same way (the agent too, so the image carries no libstdc++ or libgcc_s).
/// Also: a position-dependent executable (no 1 MiB of relative relocations to store and apply at every start)
/// that exports no symbols (nothing loads it as a library).
let guestLinking: [LinkerSetting] = [
    .unsafeFlags(["-Xclang-linker", "-static-libgcc",
                  "-Xclang-linker", "-L\(Context.packageDirectory)/Sources/guest-init/StaticLink",
                  "-Xclang-linker", "-no-pie", "-Xlinker", "--no-export-dynamic"],
                 .when(configuration: .release)),
]

/// Code that runs in the guest is optimised for size in release builds: its bytes are read at every boot
/// and mapped in every guest, and it spends its time in system calls, not loops (docs/density.md has the
/// figures). Host-only code keeps -O.
let guestCode: [SwiftSetting] = strict + [.unsafeFlags(["-Osize"], .when(configuration: .release))]

let package = Package(
    name: "GuestKit",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "guest-init", targets: ["guest-init"]),
        .executable(name: "guest-agent", targets: ["guest-agent"]),
        .executable(name: "guest-init-agent", targets: ["guest-init-agent"]),
        .executable(name: "guestctl", targets: ["guestctl"]),
        .executable(name: "compose-guest", targets: ["compose-guest"]),
        .executable(name: "guest-vsock-bridge", targets: ["guest-vsock-bridge"]),
        .executable(name: "guestkit-bench", targets: ["guestkit-bench"]),
        .executable(name: "containerd-shim-guestkit-v1", targets: ["containerd-shim-guestkit-v1"]),
        .library(name: "GuestClient", targets: ["GuestClient"]),
    ],
    dependencies: [
        // No default traits: BinaryDelimitedStreams imports all of Foundation (and with it ICU, ~60 MB) into
        // everything linking SwiftProtobuf, the guest agent included. The generated code needs neither trait.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // SHA-256 for host code only (ContentHash); the guest binaries never link it.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C that Swift cannot reach: variadic ioctl/fcntl, CMSG macros, fork+exec child setup, port I/O.
        .target(name: "CGuestShim"),
        // libkmod's API bound with dlopen (libkmod.h from libkmod-dev), so guest-init links no libkmod.
        .target(name: "CKmod"),
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),

        // The only code that calls Linux directly.
        .target(name: "GuestSys", dependencies: ["CGuestShim"], swiftSettings: guestCode),
        // JSON without Foundation: OCI specs, container state, boot.json (bounded, fuzzed).
        .target(name: "GuestJSON", swiftSettings: guestCode),

        // PID 1.
        .target(name: "GuestInit", dependencies: ["GuestSys", "CKmod", "CBlkid"], swiftSettings: guestCode),
        .executableTarget(name: "guest-init", dependencies: ["GuestInit"], exclude: ["StaticLink"],
                          swiftSettings: guestCode, linkerSettings: guestLinking),

        // Wire: the protobuf encoding, the messages generated from Sources/GuestProto's .proto files (by
        // guest-proto-gen, so the guest carries no protobuf runtime and no Foundation), then ttRPC framing
        // and dispatch (no OS calls).
        .target(name: "ProtoWire", swiftSettings: guestCode),
        .target(name: "GuestProto", dependencies: ["ProtoWire"], exclude: ["guestkit", "ttrpc"], swiftSettings: guestCode),
        .target(name: "TTRPC", dependencies: ["GuestProto", "ProtoWire"], swiftSettings: guestCode),
        // The generator behind `make proto`: a protoc descriptor set in, Swift over ProtoWire out (host only).
        .target(name: "ProtoCodegen", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: strict),
        .executableTarget(name: "guest-proto-gen", dependencies: ["ProtoCodegen", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                          swiftSettings: strict),

        // OCI containers: the spec, the creation recipe (parent and container init), cgroups, seccomp, hooks.
        .target(name: "GuestContainer", dependencies: ["GuestSys", "CGuestShim", "CSeccomp", "GuestJSON"],
                swiftSettings: guestCode),

        // The agent inside the guest.
        .target(name: "GuestAgent", dependencies: ["GuestSys", "GuestJSON", "GuestContainer", "GuestNetwork", "TTRPC", "GuestProto", "ProtoWire"],
                swiftSettings: guestCode),
        .executableTarget(name: "guest-agent", dependencies: ["GuestAgent", "GuestContainer", "GuestSys"], swiftSettings: guestCode,
                          linkerSettings: guestLinking),
        // Both in one executable for guest images (one Swift runtime); the name it runs under chooses.
        .executableTarget(name: "guest-init-agent", dependencies: ["GuestInit", "GuestAgent"], swiftSettings: guestCode,
                          linkerSettings: guestLinking),
        // Container networking over rtnetlink (libmnl): interfaces, addresses, routes and neighbours read and
        // changed all-or-nothing, and a container's resolv.conf, hosts and hostname files. The agent serves it;
        // the host reads a container's network namespace with it.
        .target(name: "GuestNetwork", dependencies: ["GuestSys", "CMnl", "GuestProto"], swiftSettings: guestCode),

        // Host side: client library and CLI.
        .target(name: "GuestClient", dependencies: ["GuestSys", "TTRPC", "GuestProto", "ProtoWire"],
                swiftSettings: strict),
        .executableTarget(name: "guestctl", dependencies: [
            "GuestClient", "GuestSys", "GuestProto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // Host side: how every host tool and test runs a child process (own process group, clean signals,
        // a deadline, killed with its whole group on every way out), and SHA-256 digests.
        .target(name: "HostProcess", dependencies: ["GuestSys", "CGuestShim"], swiftSettings: strict),
        .target(name: "ContentHash", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: strict),
        // Host side of container networking: a container's network namespace carried into its VM (taps, tc
        // redirects, the guest's configuration), for the containerd shim.
        .target(name: "HostNetwork", dependencies: ["GuestNetwork", "GuestClient", "GuestLaunch", "GuestProto", "GuestSys", "HostProcess"],
                swiftSettings: strict),

        // Image baking: kernel config and build, rootfs images and their manifests.
        .target(name: "ComposeKernel", dependencies: ["HostProcess", "ContentHash",
                                                      .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .target(name: "ComposeImage", dependencies: [
            "HostProcess", "ContentHash", "GuestSys",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: strict),
        // Starting micro-VMs: a VM description to each VMM's argv or config (QEMU, Firecracker, Cloud
        // Hypervisor, kvmtool), a composed image's manifest to that description, and booting and stopping
        // a VM with its vsock bridge and reaching its agent.
        .target(name: "GuestLaunch", dependencies: ["ComposeImage", "GuestClient", "GuestProto", "GuestSys", "HostProcess"],
                swiftSettings: strict),
        .executableTarget(name: "compose-guest", dependencies: [
            "ComposeKernel", "ComposeImage", "GuestLaunch", "GuestClient", "GuestProto", "GuestSys", "HostProcess",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // Host-side vhost-user-vsock backend with Firecracker-style hybrid sockets.
        .target(name: "VsockBridge", dependencies: ["GuestSys"], swiftSettings: strict),
        .executableTarget(name: "guest-vsock-bridge", dependencies: [
            "VsockBridge",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // The containerd runtime shim v2: containerd's public API messages (generated, host only: the guest
        // never links them), then the shim library and its thin executable.
        .target(name: "ContainerdProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["protos"], swiftSettings: strict),
        .target(name: "ContainerdShim", dependencies: [
            "ContainerdProto", "GuestClient", "GuestProto", "GuestSys", "GuestLaunch", "HostProcess", "ContentHash",
            "GuestJSON", "GuestContainer", "HostNetwork", "TTRPC", "ProtoWire", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], swiftSettings: strict),
        .executableTarget(name: "containerd-shim-guestkit-v1", dependencies: ["ContainerdShim", "GuestSys"],
                          swiftSettings: strict),

        // `make bench`: prints figures, asserts nothing.
        // OCI image layouts made locally (busybox-static), for the shim's tests and benches.
        .target(name: "OCILayout", dependencies: ["ContentHash", "HostProcess"], swiftSettings: strict),
        // Debian's containerd run privately (own socket, root, state, config), for the shim's tests and benches.
        .target(name: "LocalContainerd", dependencies: ["HostProcess"], swiftSettings: strict),
        .executableTarget(name: "guestkit-bench", dependencies: [
            "OCILayout", "LocalContainerd",
            "GuestClient", "GuestSys", "ComposeKernel", "ComposeImage", "GuestLaunch", "GuestProto", "HostProcess", "HostNetwork",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // Shared by the test targets: namespaces, scratch directories, QEMU runs, built products.
        .target(name: "GuestTestSupport", dependencies: ["GuestSys", "GuestLaunch", "HostProcess"], path: "Tests/GuestTestSupport",
                swiftSettings: strict),
        // A test-support process that starts children (plain ones, or QEMU through the test helpers) and
        // waits to be killed or signalled: the process-death tests look for what it left running.
        .executableTarget(name: "guestkit-test-parent", dependencies: ["GuestTestSupport", "GuestLaunch", "GuestSys", "HostProcess"],
                          path: "Tests/GuestTestParent", swiftSettings: strict),

        // Fuzzing: harnesses (also replayed over the corpus by FuzzCorpusTests), their libFuzzer executable
        // (built for fuzzing by make/fuzz.mk) and the declaration of libFuzzer's driver entry.
        .target(name: "FuzzHarnesses", dependencies: [
            "TTRPC", "GuestProto", "ProtoWire", "GuestAgent", "VsockBridge", "GuestInit", "GuestSys", "ComposeImage",
        ], path: "Tests/Fuzz/Harnesses", swiftSettings: strict),
        .target(name: "CFuzzDriver", path: "Tests/Fuzz/CFuzzDriver"),
        .executableTarget(name: "guestkit-fuzz", dependencies: ["FuzzHarnesses", "CFuzzDriver", "GuestSys"],
                          path: "Tests/Fuzz/guestkit-fuzz", swiftSettings: strict),

        .testTarget(name: "GuestJSONTests", dependencies: ["GuestJSON"], swiftSettings: strict),
        .testTarget(name: "GuestContainerTests", dependencies: ["GuestContainer", "GuestJSON", "GuestSys", "CSeccomp",
                                                                "GuestTestSupport"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "GuestSysTests", dependencies: ["GuestSys", "GuestTestSupport"], swiftSettings: strict),
        .testTarget(name: "GuestInitTests", dependencies: ["GuestInit", "GuestSys", "GuestTestSupport", "HostProcess"],
                    swiftSettings: strict),
        .testTarget(name: "ProtoWireTests", dependencies: ["ProtoWire", "ProtoCodegen", "GuestProto", "GuestTestSupport", "HostProcess",
                                                           .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                    swiftSettings: strict),
        .testTarget(name: "TTRPCTests", dependencies: ["TTRPC", "GuestProto", "ProtoWire"], swiftSettings: strict),
        .testTarget(name: "GuestAgentTests", dependencies: ["GuestAgent", "GuestClient", "GuestTestSupport", "GuestSys", "GuestProto", "TTRPC", "ProtoWire"],
                    exclude: ["WireCheck"],
                    swiftSettings: strict),
        .testTarget(name: "GuestClientTests", dependencies: ["GuestClient", "GuestTestSupport", "GuestSys", "GuestProto"],
                    swiftSettings: strict),
        .testTarget(name: "ComposeKernelTests", dependencies: ["ComposeKernel", "GuestTestSupport", "HostProcess"],
                    swiftSettings: strict),
        .testTarget(name: "HostProcessTests", dependencies: ["HostProcess", "GuestSys", "GuestTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "ContentHashTests", dependencies: ["ContentHash", "GuestTestSupport"], swiftSettings: strict),
        .testTarget(name: "GuestLaunchTests", dependencies: ["GuestLaunch", "ComposeImage", "GuestSys", "GuestTestSupport", "HostProcess"],
                    swiftSettings: strict),
        .testTarget(name: "ComposeImageTests", dependencies: ["ComposeImage", "GuestTestSupport", "HostProcess"],
                    swiftSettings: strict),
        .testTarget(name: "VsockBridgeTests", dependencies: ["VsockBridge", "GuestSys", "GuestTestSupport"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzHarnesses", "GuestTestSupport"], swiftSettings: strict),
        .testTarget(name: "ShimTests", dependencies: [
            "OCILayout", "LocalContainerd",
            "ContainerdShim", "ContainerdProto", "GuestTestSupport", "GuestSys", "HostProcess", "ContentHash", "GuestJSON",
        ], swiftSettings: strict),
        .testTarget(name: "GuestNetworkTests", dependencies: ["GuestNetwork", "HostNetwork", "GuestClient", "GuestProto", "GuestSys",
                                                              "GuestTestSupport", "TTRPC", "ProtoWire"],
                    swiftSettings: strict),
        .testTarget(name: "HostNetworkTests", dependencies: ["HostNetwork", "GuestNetwork", "GuestLaunch", "GuestProto", "GuestSys",
                                                             "GuestTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["GuestLaunch", "GuestClient", "GuestProto", "GuestSys", "GuestTestSupport", "ComposeImage"],
                    swiftSettings: strict),
    ]
)
