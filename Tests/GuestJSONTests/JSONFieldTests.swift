import GuestJSON
import Testing

@Suite struct JSONFieldTests {
    let document = JSONField(try! JSONValue.parse(#"""
        {"linux": {"seccomp": {"syscalls": [{"action": 1}, {"names": ["read", 3]}]}},
         "weird key": {"x": true}, "n": 70000, "neg": -5, "nothing": null}
        """#))

    @Test func pathsNameMembersAndIndices() throws {
        let syscalls = try document.object().required("linux").object().required("seccomp").object().required("syscalls").array()
        let action = try #require(try syscalls[0].object()["action"])
        #expect(action.path.description == "linux.seccomp.syscalls[0].action")
        do {
            _ = try action.string()
            Issue.record("a number read as a string")
        } catch {
            #expect(error.description == "linux.seccomp.syscalls[0].action: expected a string, got a number")
        }
        do {
            _ = try syscalls[1].object().required("names").stringArray()
            Issue.record("a number read as a string")
        } catch {
            #expect(error.description == "linux.seccomp.syscalls[1].names[1]: expected a string, got a number")
        }
    }

    @Test func oddNamesAreQuoted() throws {
        let field = try #require(try document.object()["weird key"]?.object()["x"])
        #expect(field.path.description == #"["weird key"].x"#)
    }

    @Test func integersMustFit() throws {
        let object = try document.object()
        #expect(try object.required("n").integer(UInt32.self) == 70000)
        #expect(throws: JSONDecodeError.self) { try object.required("n").integer(UInt16.self) }
        #expect(throws: JSONDecodeError.self) { try object.required("neg").uint64() }
        #expect(try object.required("neg").int64() == -5)
    }

    @Test func nullReadsAsAbsent() throws {
        let object = try document.object()
        #expect(object["nothing"] == nil)
        do {
            _ = try object.required("nothing")
            Issue.record("null accepted as present")
        } catch {
            #expect(error.description == "nothing: is required")
        }
    }
}
