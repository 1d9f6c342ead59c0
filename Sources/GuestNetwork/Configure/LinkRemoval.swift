#if canImport(Glibc)
import Glibc
#endif
import CMnl

/// Deleting an interface (RTM_DELLINK), as `ip link delete` does: the host removes a tap it made.
public enum LinkRemoval {
    /// Deletes the interface `name`; false when there is none.
    @discardableResult
    public static func remove(_ name: String) throws(NetworkError) -> Bool {
        let socket = try RouteSocket()
        guard let link = try RouteDump.links(socket).first(where: { $0.name == name }) else { return false }
        var info = ifinfomsg()
        info.ifi_family = UInt8(AF_UNSPEC)
        info.ifi_index = link.index
        try socket.perform(NetlinkRequest(type: Int32(RTM_DELLINK), fixed: info, operation: "RTM_DELLINK dev \(name)"))
        return true
    }
}
