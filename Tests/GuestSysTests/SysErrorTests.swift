import GuestSys
import Testing

@Suite struct SysErrorTests {
    @Test(arguments: [(Int32(2), "ENOENT"), (16, "EBUSY"), (111, "ECONNREFUSED"), (9999, "errno 9999")])
    func namesErrnoCodes(code: Int32, name: String) {
        #expect(Errno.name(code) == name)
    }

    @Test func errorNamesCallArgumentsAndCause() throws {
        let error = #expect(throws: SysError.self) {
            _ = try FileDescriptor.open("/nonexistent/guestkit", .readOnly)
        }
        #expect(error?.call == "open")
        #expect(error?.args.first == "/nonexistent/guestkit")
        #expect(error?.description.contains("ENOENT") == true)
    }
}
