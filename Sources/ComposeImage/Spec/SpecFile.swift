// `--spec guest.yaml`: the same definition as the flags, for version control. Every key is optional;
// relative paths are relative to the spec file's directory; flags given on the command line win.
//
//   init: ../.build/release/guest-init
//   agent: ../.build/release/guest-agent
//   format: ext4            # ext4 | erofs | initramfs
//   dax: true
//   dax_header: false
//   size: 64M
//   compression: gzip       # initramfs: gzip | zstd | none; erofs: none | lz4 | lz4hc
//   journal: false
//   strip: true             # strip the installed init and agent
//   base: rootfs.tar
//   output: guest.img
//   add:
//     - ./hello:/usr/bin/hello
//     - { src: ./motd, dst: /etc/motd, mode: "0600", uid: 0, gid: 0 }
//   links:
//     - { path: /bin/sh, target: busybox }
//   modules: { from: ../out/debian-kernel, load: [virtio_pmem, vmw_vsock_virtio_transport] }
//   kernel: [../out/kernel/bzImage, ../out/kernel/vmlinux]
//   kernel_dir: ../out/kernel
//   launch: { memory_mib: 256, vcpus: 1, cid: 3, vsock: bridge, vsock_path: /tmp/g.vsock, accel: tcg,
//             agent_port: 1024, guest_options: [debug=1], cmdline: [quiet] }
import Foundation
import Yams

/// Reads a guest spec file into an `ImageSpec`.
public enum SpecFile {
    public static func load(path: String) throws -> ImageSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ComposeError.unreadableInput(role: "--spec", path: path,
                                               reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let directory = (ImageComposer.absolute(path) as NSString).deletingLastPathComponent
        return try parse(text, file: path, directory: directory)
    }

    public static func parse(_ text: String, file: String, directory: String) throws -> ImageSpec {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw yamlError(error, file: file)
        } catch {
            throw ComposeError.badSpec(file: file, line: 1, key: "", message: "\(error)")
        }
        var spec = ImageSpec()
        guard let root else { return spec }
        let reader = NodeReader(file: file, directory: directory)
        let mapping = try reader.mapping(root, key: "(top level)")
        for (keyNode, value) in mapping {
            let key = try reader.string(keyNode, key: "(key)")
            switch key {
            case "init": spec.initPath = try reader.path(value, key: key)
            case "agent": spec.agentPath = try reader.path(value, key: key)
            case "format":
                let text = try reader.string(value, key: key)
                guard let format = ImageSpec.Format(rawValue: text) else {
                    throw reader.fail(value, key: key, "expected ext4, erofs or initramfs, got '\(text)'")
                }
                spec.format = format
            case "dax": spec.dax = try reader.bool(value, key: key)
            case "dax_header": spec.daxHeader = try reader.bool(value, key: key)
            case "journal": spec.journal = try reader.bool(value, key: key)
            case "strip": spec.strip = try reader.bool(value, key: key)
            case "size":
                let text = try reader.string(value, key: key)
                guard let size = ByteCount.parse(text) else { throw reader.fail(value, key: key, "expected a size like 64M or 1G, got '\(text)'") }
                spec.size = size
            case "compression": spec.compression = try reader.string(value, key: key)
            case "base": spec.base = try reader.path(value, key: key)
            case "output": spec.output = try reader.path(value, key: key)
            case "skeleton": spec.skeleton = try reader.path(value, key: key)
            case "kernel_dir": spec.kernelDir = try reader.path(value, key: key)
            case "kernel":
                if value.sequence != nil {
                    spec.kernels = try reader.sequence(value, key: key).map { try reader.path($0, key: key) }
                } else {
                    spec.kernels = [try reader.path(value, key: key)]
                }
            case "add":
                for item in try reader.sequence(value, key: key) {
                    if item.scalar != nil {
                        var addition = try ImageSpec.Addition.parse(try reader.string(item, key: key))
                        addition.source = reader.resolve(addition.source)
                        spec.additions.append(addition)
                        continue
                    }
                    var source: String?, destination: String?
                    var addition = ImageSpec.Addition(source: "", destination: "")
                    for (subKey, subValue) in try reader.mapping(item, key: key) {
                        let name = try reader.string(subKey, key: key)
                        let qualified = "add.\(name)"
                        switch name {
                        case "src": source = try reader.path(subValue, key: qualified)
                        case "dst": destination = try reader.string(subValue, key: qualified)
                        case "mode": addition.permissions = try reader.octal(subValue, key: qualified)
                        case "uid": addition.uid = try reader.number(subValue, key: qualified)
                        case "gid": addition.gid = try reader.number(subValue, key: qualified)
                        default: throw reader.fail(subKey, key: qualified, "unknown key (src, dst, mode, uid, gid)")
                        }
                    }
                    guard let source else { throw reader.fail(item, key: "add.src", "missing") }
                    guard let destination, destination.hasPrefix("/") else {
                        throw reader.fail(item, key: "add.dst", "missing or not an absolute guest path")
                    }
                    addition.source = source
                    addition.destination = destination
                    spec.additions.append(addition)
                }
            case "links":
                for item in try reader.sequence(value, key: key) {
                    var path: String?, target: String?
                    for (subKey, subValue) in try reader.mapping(item, key: key) {
                        let name = try reader.string(subKey, key: key)
                        switch name {
                        case "path": path = try reader.string(subValue, key: "links.path")
                        case "target": target = try reader.string(subValue, key: "links.target")
                        default: throw reader.fail(subKey, key: "links.\(name)", "unknown key (path, target)")
                        }
                    }
                    guard let path, path.hasPrefix("/"), let target else {
                        throw reader.fail(item, key: "links", "each link needs an absolute path and a target")
                    }
                    spec.links.append(.init(path: path, target: target))
                }
            case "modules":
                for (subKey, subValue) in try reader.mapping(value, key: key) {
                    let name = try reader.string(subKey, key: key)
                    switch name {
                    case "from": spec.modulesFrom = try reader.path(subValue, key: "modules.from")
                    case "load": spec.modules = try reader.sequence(subValue, key: "modules.load").map { try reader.string($0, key: "modules.load") }
                    default: throw reader.fail(subKey, key: "modules.\(name)", "unknown key (from, load)")
                    }
                }
            case "launch":
                for (subKey, subValue) in try reader.mapping(value, key: key) {
                    let name = try reader.string(subKey, key: key)
                    let qualified = "launch.\(name)"
                    switch name {
                    case "memory_mib": spec.launch.memoryMiB = Int(try reader.number(subValue, key: qualified))
                    case "vcpus": spec.launch.vcpus = Int(try reader.number(subValue, key: qualified))
                    case "cid": spec.launch.guestCID = try reader.number(subValue, key: qualified)
                    case "vsock":
                        let mode = try reader.string(subValue, key: qualified)
                        guard ["bridge", "vhost", "none"].contains(mode) else {
                            throw reader.fail(subValue, key: qualified, "expected bridge, vhost or none, got '\(mode)'")
                        }
                        spec.launch.vsock = mode
                    case "vsock_path": spec.launch.vsockPath = try reader.path(subValue, key: qualified)
                    case "accel": spec.launch.accel = try reader.string(subValue, key: qualified)
                    case "agent_port": spec.launch.agentPort = Int(try reader.number(subValue, key: qualified))
                    case "guest_options":
                        spec.launch.guestOptions = try reader.sequence(subValue, key: qualified).map { try reader.string($0, key: qualified) }
                    case "cmdline":
                        spec.launch.extraCmdline = try reader.sequence(subValue, key: qualified).map { try reader.string($0, key: qualified) }
                    default:
                        throw reader.fail(subKey, key: qualified,
                                          "unknown key (memory_mib, vcpus, cid, vsock, vsock_path, accel, agent_port, guest_options, cmdline)")
                    }
                }
            default:
                throw reader.fail(keyNode, key: key, "unknown key (init, agent, format, dax, dax_header, size, compression, journal, strip, "
                    + "base, output, skeleton, add, links, modules, kernel, kernel_dir, launch)")
            }
        }
        return spec
    }

    static func yamlError(_ error: YamlError, file: String) -> ComposeError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return .badSpec(file: file, line: mark.line, key: "", message: "not valid YAML: \(problem)")
        default:
            return .badSpec(file: file, line: 1, key: "", message: "not valid YAML: \(error)")
        }
    }
}

/// Typed reads of YAML nodes whose errors carry the node's line and the key being read.
struct NodeReader {
    let file: String
    let directory: String

    func fail(_ node: Node, key: String, _ message: String) -> ComposeError {
        .badSpec(file: file, line: node.mark?.line ?? 1, key: key, message: message)
    }

    func string(_ node: Node, key: String) throws -> String {
        guard let scalar = node.scalar else { throw fail(node, key: key, "expected a single value") }
        return scalar.string
    }

    func bool(_ node: Node, key: String) throws -> Bool {
        switch try string(node, key: key).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let other: throw fail(node, key: key, "expected true or false, got '\(other)'")
        }
    }

    func number(_ node: Node, key: String) throws -> UInt32 {
        let text = try string(node, key: key)
        guard let value = UInt32(text) else { throw fail(node, key: key, "expected a non-negative number, got '\(text)'") }
        return value
    }

    func octal(_ node: Node, key: String) throws -> UInt32 {
        let text = try string(node, key: key)
        guard let value = UInt32(text.hasPrefix("0o") ? String(text.dropFirst(2)) : text, radix: 8), value <= 0o7777 else {
            throw fail(node, key: key, "expected an octal mode like \"0755\", got '\(text)'")
        }
        return value
    }

    func path(_ node: Node, key: String) throws -> String {
        let text = try string(node, key: key)
        guard !text.isEmpty else { throw fail(node, key: key, "expected a path") }
        return resolve(text)
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : directory.joinedPath(path).normalizedPath
    }

    func mapping(_ node: Node, key: String) throws -> [(Node, Node)] {
        guard let mapping = node.mapping else { throw fail(node, key: key, "expected a mapping of keys to values") }
        return mapping.map { ($0.key, $0.value) }
    }

    func sequence(_ node: Node, key: String) throws -> [Node] {
        guard let sequence = node.sequence else { throw fail(node, key: key, "expected a list") }
        return Array(sequence)
    }
}
