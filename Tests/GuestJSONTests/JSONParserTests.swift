import GuestJSON
import Testing

@Suite struct JSONParserTests {
    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        (" false ", .bool(false)),
        ("0", .number(JSONNumber("0")!)),
        ("-12.5e+3", .number(JSONNumber("-12.5e+3")!)),
        (#""a\"b\\c\/d\n\t\u00e9""#, .string("a\"b\\c/d\n\té")),
        (#""\ud83d\ude00""#, .string("😀")),
        (#""\ud800x""#, .string("\u{FFFD}x")),
        (#""\udc00""#, .string("\u{FFFD}")),
        ("\"é\"", .string("é")),
        ("[]", .array([])),
        ("[1, [true], {}]", .array([1, [true], .object(JSONObject())])),
        (#"{"a": 1, "b": [null]}"#, .object(JSONObject([("a", 1), ("b", .array([.null]))]))),
    ])
    func parsesValues(text: String, expected: JSONValue) throws {
        #expect(try JSONValue.parse(text) == expected)
    }

    @Test(arguments: [
        ("", "expected a value"),
        ("01", "malformed number"),
        ("1.", "malformed number"),
        ("-", "malformed number"),
        ("1e", "malformed number"),
        ("+1", "unexpected character"),
        ("tru", "invalid literal"),
        ("nul", "invalid literal"),
        ("[1,]", "unexpected character ']'"),
        ("[1 2]", "expected ',' or ']'"),
        ("{\"a\" 1}", "expected ':'"),
        ("{a: 1}", "expected a member name"),
        ("{\"a\":1,}", "expected a member name"),
        ("\"abc", "unterminated string"),
        ("\"a\u{01}\"", "control character"),
        (#""\x""#, "invalid escape"),
        (#""\u12""#, "four hex digits"),
        ("[1] x", "unexpected data"),
        ("{\"a\":", "unexpected end of input"),
    ])
    func rejectsMalformedInput(text: String, fragment: String) {
        do {
            _ = try JSONValue.parse(text)
            Issue.record("parsed \(text)")
        } catch {
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test(arguments: [
        [UInt8]([0x22, 0xC0, 0x80, 0x22]),  // overlong NUL
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // encoded surrogate
        [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],  // beyond U+10FFFF
        [0x22, 0xE2, 0x82, 0x22],  // truncated
        [0x22, 0x80, 0x22],  // lone continuation byte
    ])
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(bytes) }
    }

    @Test func boundsDepth() throws {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(fine, limits: JSONLimits(maxDepth: 99)) }
    }

    @Test func boundsSize() {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse("[1,2,3]", limits: JSONLimits(maxBytes: 6)) }
    }

    @Test func repeatedNamesReadTheLastOne() throws {
        let value = try JSONValue.parse(#"{"a":1,"a":2}"#)
        #expect(value["a"] == 2)
    }

    @Test(arguments: [
        ("18446744073709551615", UInt64?.some(18_446_744_073_709_551_615), Int64?.none),
        ("-1", nil, -1),
        ("9223372036854775807", 9_223_372_036_854_775_807, 9_223_372_036_854_775_807),
        ("18446744073709551616", nil, nil),
        ("1e3", nil, nil),
        ("1.0", nil, nil),
    ])
    func convertsIntegersExactly(text: String, unsigned: UInt64?, signed: Int64?) throws {
        let number = try #require(JSONNumber(text))
        #expect(number.uint64 == unsigned)
        #expect(number.int64 == signed)
    }

    /// Every prefix and a spread of single-byte corruptions of a real spec parse or fail cleanly.
    @Test func survivesTruncationAndCorruption() {
        let spec = Array(#"{"ociVersion":"1.0.2","process":{"args":["sh","-c","echo \"hi\""],"env":["A=\u00e9"]},"linux":{"resources":{"memory":{"limit":-1}}}}"#.utf8)
        for end in 0...spec.count { _ = try? JSONValue.parse(Array(spec[0..<end])) }
        for position in spec.indices {
            for byte: UInt8 in [0x00, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0xFF, 0xC3, 0x2C, 0x3A] {
                var corrupted = spec
                corrupted[position] = byte
                _ = try? JSONValue.parse(corrupted)
            }
        }
    }
}
