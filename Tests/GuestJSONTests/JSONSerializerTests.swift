import GuestJSON
import Testing

@Suite struct JSONSerializerTests {
    @Test(arguments: [
        (JSONValue.object(JSONObject([("b", 1), ("a", [true, nil])])), #"{"b":1,"a":[true,null]}"#),
        (.string("q\"\\\n\u{01}\u{7F}é"), #""q\"\\\n\u0001\u007fé""#),
        (.array([]), "[]"),
        (.unsigned(UInt64.max), "18446744073709551615"),
    ])
    func writesCompactJSON(value: JSONValue, text: String) {
        #expect(value.serialized == text)
    }

    @Test func roundTrips() throws {
        let value: JSONValue = ["ociVersion": "1.0.2", "id": "c1", "status": "created", "pid": 42,
                                "annotations": ["k": "v\u{2028}"], "list": [1, "two", [false]]]
        #expect(try JSONValue.parse(value.serialized) == value)
        #expect(try JSONValue.parse(value.pretty) == value)
    }

    @Test func prettyIndentsByTwo() {
        let value: JSONValue = ["a": [1]]
        #expect(value.pretty == "{\n  \"a\": [\n    1\n  ]\n}")
    }
}
