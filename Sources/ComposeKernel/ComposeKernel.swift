// ComposeKernel owns the guest kernel: the Kconfig fragments in `kernel-config/` and the profiles that
// list them per VMM, merging them the way the kernel's own tooling does (later fragments win,
// conflicts reported with both places), resolving the result against a real kernel tree
// (`merge_config.sh`, `allnoconfig`, `olddefconfig`), proving that every requested value survived and
// explaining each one that did not from the tree's Kconfig, and building bzImage/vmlinux out of tree
// with a cache keyed by the source and the request. It leaves the rootfs and launch settings to
// ComposeImage, and booting the result to the end-to-end tests.
import Foundation

/// An error from composing a kernel; its description says what failed, on what, and what to try.
public struct ComposeKernelError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
