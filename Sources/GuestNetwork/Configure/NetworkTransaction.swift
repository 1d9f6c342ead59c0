/// The changes one request makes, each with the request that takes it back: when a step fails, the steps
/// already made are undone newest first, so the network is left as it was.
final class NetworkTransaction {
    let socket: RouteSocket
    private var undo: [NetlinkRequest] = []

    private init(socket: RouteSocket) { self.socket = socket }

    /// Runs `body` on a fresh socket; when it throws, undoes what it did and rethrows (as `.undoFailed`
    /// when an undo step fails too).
    static func run<Result>(_ body: (NetworkTransaction) throws(NetworkError) -> Result) throws(NetworkError) -> Result {
        let transaction = NetworkTransaction(socket: try RouteSocket())
        do {
            return try body(transaction)
        } catch {
            let failures = transaction.rollBack()
            throw failures.isEmpty ? error : .undoFailed(error, failures)
        }
    }

    /// Performs `change`; once it succeeded, `inverse` is what takes it back.
    func apply(_ change: NetlinkRequest, inverse: NetlinkRequest) throws(NetworkError) {
        try socket.perform(change)
        undo.append(inverse)
    }

    private func rollBack() -> [String] {
        var failures: [String] = []
        for request in undo.reversed() {
            do throws(NetworkError) { try socket.perform(request) } catch { failures.append("\(error)") }
        }
        undo = []
        return failures
    }
}
