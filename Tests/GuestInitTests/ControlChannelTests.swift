import GuestInit
import Testing

@Suite struct ControlChannelTests {
    @Test(arguments: [
        (["READY\n"], [ControlMessage.ready]),
        (["REA", "DY\nPOWER", "OFF\n"], [.ready, .powerOff]),
        (["REBOOT\r\nhello\n"], [.reboot, .unknown("hello")]),
        (["READY"], []),
        (["\n"], [.unknown("")]),
        (["ready\n"], [.unknown("ready")]),
    ])
    func decodesLinesAcrossReads(chunks: [String], expected: [ControlMessage]) {
        var decoder = ControlLineDecoder()
        let messages = chunks.flatMap { decoder.feed(Array($0.utf8)) }
        #expect(messages == expected)
    }

    @Test func overlongLinesAreDroppedNotBuffered() {
        var decoder = ControlLineDecoder()
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000)
        #expect(decoder.feed(long).isEmpty)
        let after = decoder.feed(Array("\nREADY\n".utf8))
        #expect(after.count == 2)
        #expect(after.last == .ready)
        guard case .unknown(let note) = after.first else {
            Issue.record("expected the overlong line reported as unknown")
            return
        }
        #expect(note.contains("longer than"))
    }
}

@Suite struct RestartBackoffTests {
    @Test func doublesWhileCrashingQuicklyAndCaps() {
        var backoff = RestartBackoff()
        let delays = (0..<8).map { _ in backoff.delay(afterRunning: 50) }
        #expect(delays == [100, 200, 400, 800, 1600, 3200, 5000, 5000])
    }

    @Test func aStableRunResets() {
        var backoff = RestartBackoff(initialMilliseconds: 10, maximumMilliseconds: 1000, stableMilliseconds: 500)
        _ = backoff.delay(afterRunning: 0)
        _ = backoff.delay(afterRunning: 0)
        #expect(backoff.delay(afterRunning: 0) == 40)
        #expect(backoff.delay(afterRunning: 500) == 10)
        #expect(backoff.delay(afterRunning: 499) == 20)
    }

    @Test func neverOverflows() {
        var backoff = RestartBackoff()
        for _ in 0..<200 { #expect(backoff.delay(afterRunning: 0) <= 5000) }
    }
}
