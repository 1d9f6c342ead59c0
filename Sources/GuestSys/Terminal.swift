#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// A terminal's size in character cells.
public struct WindowSize: Sendable, Equatable {
    public var rows: UInt16
    public var columns: UInt16
    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }
}

/// A pseudo-terminal pair: the agent keeps the controller, the child gets the terminal.
public struct PseudoTerminal: Sendable {
    public let controller: FileDescriptor
    public let terminal: FileDescriptor
    /// The terminal's path, e.g. /dev/pts/0.
    public let name: String

    /// Opens a new pty (posix_openpt, grantpt, unlockpt), both ends close-on-exec.
    public init(size: WindowSize? = nil) throws(SysError) {
        var name = [CChar](repeating: 0, count: 128)
        let c = try sys("posix_openpt", ["O_RDWR|O_NOCTTY|O_CLOEXEC"]) { gk_open_pty(&name, 128) }
        controller = FileDescriptor(rawValue: c)
        let opened: FileDescriptor
        let path = decodeCString(name)
        do throws(SysError) {
            opened = try FileDescriptor.open(path, [.readWrite, .noControllingTerminal])
        } catch {
            controller.closeQuietly()
            throw error
        }
        self.name = path
        terminal = opened
        do throws(SysError) {
            if let size { try Terminals.setSize(controller, size) }
        } catch {
            // Both ends go: a half-made terminal must not leak either descriptor.
            controller.closeQuietly()
            opened.closeQuietly()
            throw error
        }
    }
}

/// Terminal controls for any tty descriptor.
public enum Terminals {
    public static func size(_ fd: FileDescriptor) throws(SysError) -> WindowSize {
        var rows: UInt16 = 0
        var cols: UInt16 = 0
        try sys("ioctl", [fd.description, "TIOCGWINSZ"]) { gk_get_winsize(fd.rawValue, &rows, &cols) }
        return WindowSize(rows: rows, columns: cols)
    }

    /// TIOCSWINSZ: the kernel sends SIGWINCH to the terminal's foreground process group.
    public static func setSize(_ fd: FileDescriptor, _ size: WindowSize) throws(SysError) {
        try sys("ioctl", [fd.description, "TIOCSWINSZ", "\(size.rows)x\(size.columns)"]) {
            gk_set_winsize(fd.rawValue, size.rows, size.columns)
        }
    }

    /// TIOCSCTTY: makes the terminal the calling session leader's controlling terminal.
    public static func setControlling(_ fd: FileDescriptor) throws(SysError) {
        try sys("ioctl", [fd.description, "TIOCSCTTY"]) { gk_set_controlling_tty(fd.rawValue) }
    }

    /// The terminal's current settings, to restore later.
    public static func attributes(_ fd: FileDescriptor) throws(SysError) -> termios {
        var t = termios()
        try sys("tcgetattr", [fd.description]) { tcgetattr(fd.rawValue, &t) }
        return t
    }

    public static func setAttributes(_ fd: FileDescriptor, _ attributes: termios) throws(SysError) {
        var t = attributes
        try sys("tcsetattr", [fd.description, "TCSANOW"]) { tcsetattr(fd.rawValue, TCSANOW, &t) }
    }

    /// Puts a terminal in raw mode (cfmakeraw) and returns the previous settings.
    public static func makeRaw(_ fd: FileDescriptor) throws(SysError) -> termios {
        let saved = try attributes(fd)
        var raw = saved
        cfmakeraw(&raw)
        try setAttributes(fd, raw)
        return saved
    }
}
