// Kernel modules through libkmod: the same index files (modules.dep.bin, modules.alias.bin,
// modules.builtin.bin, modules.softdep) and the same order as `modprobe`, without shipping modprobe.
// A module's dependency list in modules.dep is already transitive; libkmod hands it back in load order
// (depmod writes it reversed). Soft dependencies (`softdep X pre: Y post: Z` in modprobe.d or the
// module's own modinfo) go around the module they belong to.
#if canImport(Glibc)
import Glibc  // strdup/free for libkmod's C string array, nothing else
#endif
import CKmod
import GuestSys

/// One module to insert, in the order `resolve` returns them.
public struct ModuleStep: Equatable, Sendable, CustomStringConvertible {
    public let name: String
    /// The .ko file; nil when the module is built into the kernel.
    public let path: String?
    /// Options from modprobe.d (`options NAME …`), if any.
    public let options: String?

    public init(name: String, path: String?, options: String? = nil) {
        self.name = name
        self.path = path
        self.options = options
    }

    public var isBuiltin: Bool { path == nil }
    public var description: String { path == nil ? "\(name) (built in)" : name }
}

/// What went wrong with a module; the message names it and says where guest-init looked.
public enum ModuleError: Error, Equatable, CustomStringConvertible {
    case notFound(name: String, directory: String)
    case cannotOpen(directory: String)
    case insertFailed(name: String, path: String, code: Int32)
    case libraryMissing(reason: String)

    public var description: String {
        switch self {
        case .notFound(let name, let directory):
            return "module \(name): no such module or alias in \(directory) (modules.dep, modules.alias, "
                + "modules.builtin); check guest.modules and the image's module tree"
        case .cannotOpen(let directory):
            return "cannot open the module index in \(directory); is the module tree installed (depmod run)?"
        case .insertFailed(let name, let path, let code):
            return "cannot insert module \(name) (\(path)): \(Errno.name(code)) (\(Errno.message(code)))"
                + (code == 8 ? "; built for another kernel?" : "")
        case .libraryMissing(let reason):
            return "cannot load libkmod (\(reason)); an image with modules needs libkmod.so.2 (compose-guest adds it with --modules-from)"
        }
    }
}

/// Resolves module names and aliases to ordered dependency chains and inserts them (libkmod).
public final class ModuleLoader {
    public let directory: String
    private let context: OpaquePointer

    /// The module tree of the running kernel.
    public static func defaultDirectory() -> String {
        "/lib/modules/" + ((try? Processes.kernel().release) ?? "unknown")
    }

    /// Opens the indexes of `directory` (`/lib/modules/<release>`). `configurationPaths` are the
    /// modprobe.d directories for options and soft dependencies: nil means libkmod's defaults
    /// (/etc/modprobe.d, /run/modprobe.d, /lib/modprobe.d), [] means none.
    public init(directory: String, configurationPaths: [String]? = nil) throws(ModuleError) {
        guard FileSystem.exists(directory + "/modules.dep") || FileSystem.exists(directory + "/modules.dep.bin") else {
            throw .cannotOpen(directory: directory)
        }
        if let reason = gk_kmod_load_error() { throw .libraryMissing(reason: String(cString: reason)) }
        let made: OpaquePointer? = directory.withCString { dir in
            guard let configurationPaths else { return kmod_new(dir, nil) }
            var pointers: [UnsafeMutablePointer<CChar>?] = configurationPaths.map { strdup($0) }
            pointers.append(nil)
            defer { for p in pointers { free(p) } }
            return pointers.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) {
                    kmod_new(dir, $0)
                }
            }
        }
        guard let made else { throw .cannotOpen(directory: directory) }
        context = made
        self.directory = directory
    }

    deinit { kmod_unref(context) }

    /// The modules `name` (a module name or an alias such as `fs-erofs`) needs, in load order, ending
    /// with the module(s) it names. Built-in modules are included with no path.
    public func resolve(_ name: String) throws(ModuleError) -> [ModuleStep] {
        var order: [ModuleStep] = []
        var visited: Set<String> = []
        let found = lookup(name)
        guard !found.isEmpty else { throw .notFound(name: name, directory: directory) }
        for module in found { visit(module, &order, &visited) }
        return order
    }

    /// Inserts `name` and what it needs, skipping modules already live or built in. Returns the
    /// modules inserted now.
    @discardableResult
    public func load(_ name: String) throws(ModuleError) -> [ModuleStep] {
        var inserted: [ModuleStep] = []
        let found = lookup(name)
        guard !found.isEmpty else { throw .notFound(name: name, directory: directory) }
        var order: [Module] = []
        var visited: Set<String> = []
        for module in found { collect(module, &order, &visited) }
        for module in order {
            let state = kmod_module_get_initstate(module.pointer)
            if state == Int32(KMOD_MODULE_BUILTIN.rawValue) || state == Int32(KMOD_MODULE_LIVE.rawValue)
                || state == Int32(KMOD_MODULE_COMING.rawValue) { continue }
            let step = module.step
            guard let path = step.path else { continue }
            let rc = kmod_module_insert_module(module.pointer, 0, step.options)
            if rc == -Errno.EEXIST { continue }
            if rc < 0 { throw .insertFailed(name: step.name, path: path, code: -rc) }
            inserted.append(step)
        }
        return inserted
    }

    // MARK: libkmod lists and references

    /// A referenced `struct kmod_module`, released when the value goes.
    private final class Module {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { kmod_module_unref(pointer) }

        var name: String { string(kmod_module_get_name(pointer)) ?? "?" }
        var step: ModuleStep {
            let options = string(kmod_module_get_options(pointer))
            return ModuleStep(name: name, path: string(kmod_module_get_path(pointer)),
                              options: options?.isEmpty == false ? options : nil)
        }
    }

    private func lookup(_ name: String) -> [Module] {
        var list: OpaquePointer?
        guard kmod_module_new_from_lookup(context, name, &list) >= 0 else { return [] }
        return Self.drain(list)
    }

    /// Takes a reference to every module of a libkmod list, then releases the list.
    private static func drain(_ list: OpaquePointer?) -> [Module] {
        var result: [Module] = []
        var entry = list
        while let current = entry {
            if let module = kmod_module_get_module(current) { result.append(Module(module)) }
            entry = kmod_list_next(list, current)
        }
        if list != nil { kmod_module_unref_list(list) }
        return result
    }

    /// libkmod's probe order: each dependency wrapped in its soft dependencies, then the module
    /// wrapped in its own (see kmod's __kmod_module_get_probe_list).
    private func collect(_ module: Module, _ order: inout [Module], _ visited: inout Set<String>) {
        guard visited.insert(module.name).inserted else { return }
        for dependency in Self.drain(kmod_module_get_dependencies(module.pointer)) {
            withSoftDependencies(dependency, &order, &visited)
        }
        withSoftDependencies(module, &order, &visited, visitedAlready: true)
    }

    private func withSoftDependencies(_ module: Module, _ order: inout [Module], _ visited: inout Set<String>,
                                      visitedAlready: Bool = false) {
        if !visitedAlready {
            guard visited.insert(module.name).inserted else { return }
        }
        var pre: OpaquePointer?
        var post: OpaquePointer?
        let haveSoft = kmod_module_get_softdeps(module.pointer, &pre, &post) >= 0
        let before = haveSoft ? Self.drain(pre) : []
        let after = haveSoft ? Self.drain(post) : []
        for dependency in before { collect(dependency, &order, &visited) }
        order.append(module)
        for dependency in after { collect(dependency, &order, &visited) }
    }

    private func visit(_ module: Module, _ order: inout [ModuleStep], _ visited: inout Set<String>) {
        var modules: [Module] = []
        collect(module, &modules, &visited)
        order.append(contentsOf: modules.map(\.step))
    }
}

private func string(_ pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(cString: pointer)
}

/// Which modules a boot loads: `guest.modules=` first, then /etc/modules-load.d/*.conf in file-name
/// order (one name per line, `#` and `;` start comments), each name once.
public enum ModuleList {
    public static func parse(_ conf: String) -> [String] {
        conf.split(separator: "\n").compactMap { line in
            let trimmed = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first.map(String.init)
            guard let name = trimmed, !name.hasPrefix("#"), !name.hasPrefix(";") else { return nil }
            return name
        }
    }

    public static func collect(commandLine: [String], configurationDirectory: String = "/etc/modules-load.d") -> [String] {
        var names = commandLine
        let files = ((try? FileSystem.listDirectory(configurationDirectory)) ?? []).filter { $0.hasSuffix(".conf") }.sorted()
        for file in files {
            guard let text = try? FileSystem.readText(configurationDirectory + "/" + file) else { continue }
            names.append(contentsOf: parse(text))
        }
        var seen: Set<String> = []
        return names.filter { seen.insert(normalized($0)).inserted }
    }

    /// Module names treat `-` and `_` alike; /sys/module uses `_`.
    public static func normalized(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// Whether the running kernel has the module already (built in with parameters, or loaded).
    public static func isPresent(_ name: String) -> Bool {
        FileSystem.isDirectory("/sys/module/" + normalized(name))
    }

    /// The filesystem types the running kernel knows (/proc/filesystems).
    public static func filesystems(_ procFilesystems: String) -> Set<String> {
        Set(procFilesystems.split(separator: "\n").compactMap { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).last.map(String.init) })
    }
}
