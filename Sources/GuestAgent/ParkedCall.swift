import TTRPC

/// A call a handler kept to answer later (WaitProcess until the exit, a container create until its init
/// reports): which connection and which ttRPC stream the answer belongs to.
struct ParkedCall: Hashable {
    let connectionID: Int
    let streamID: UInt32
}

/// Whoever can deliver the answer of a parked call: the connection server. An answer to a connection that
/// has closed meanwhile is dropped.
protocol CallAnswering: AnyObject {
    func answer(_ call: ParkedCall, _ result: Result<[UInt8], RPCError>)
}
