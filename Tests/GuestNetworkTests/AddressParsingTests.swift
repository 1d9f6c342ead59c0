import GuestNetwork
import Testing

@Suite struct AddressParsingTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8:0:0:0:0:0:1", "2001:db8::1"), ("::", "::"), ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("fe80::1", "fe80::1"),
    ])
    func parsesAddresses(text: String, canonical: String) throws {
        #expect(try #require(IPAddress(text)).description == canonical)
    }

    @Test(arguments: ["", "192.0.2", "192.0.2.256", "192.0.2.01", "1.2.3.4.5", "2001:db8:::1", "2001:db8::g",
                      "192.0.2.1 ", " ::1", "localhost", "192.0.2.1/24", "1:2:3:4:5:6:7:8:9"])
    func refusesAddresses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [
        ("192.0.2.2/24", "192.0.2.2", 24, "192.0.2.0", false), ("198.51.100.0/24", "198.51.100.0", 24, "198.51.100.0", true),
        ("0.0.0.0/0", "0.0.0.0", 0, "0.0.0.0", true), ("192.0.2.7", "192.0.2.7", 32, "192.0.2.7", true),
        ("2001:db8::2/64", "2001:db8::2", 64, "2001:db8::", false), ("::/0", "::", 0, "::", true),
        ("2001:db8:1::/48", "2001:db8:1::", 48, "2001:db8:1::", true), ("192.0.2.130/25", "192.0.2.130", 25, "192.0.2.128", false),
    ])
    func parsesPrefixes(text: String, address: String, length: Int, network: String, isNetwork: Bool) throws {
        let prefix = try #require(IPPrefix(text))
        #expect(prefix.address.description == address)
        #expect(prefix.length == length)
        #expect(prefix.network.description == network)
        #expect(prefix.isNetwork == isNetwork)
    }

    @Test(arguments: ["192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "/24", "192.0.2.0/-1", "192.0.2.0/2a",
                      "192.0.2.0/24/1", "192.0.2.0/0024", "x/24"])
    func refusesPrefixes(text: String) {
        #expect(IPPrefix(text) == nil)
    }

    @Test(arguments: [
        ("192.0.2.0/24", "192.0.2.255", true), ("192.0.2.0/24", "198.51.100.1", false), ("0.0.0.0/0", "203.0.113.9", true),
        ("2001:db8::/64", "2001:db8::ffff", true), ("2001:db8::/64", "2001:db8:0:1::1", false), ("192.0.2.0/24", "::1", false),
    ])
    func prefixContains(prefix: String, address: String, contained: Bool) throws {
        #expect(try #require(IPPrefix(prefix)).contains(try #require(IPAddress(address))) == contained)
    }

    @Test(arguments: [("52:54:00:12:34:56", "52:54:00:12:34:56", false), ("02:AB:cd:EF:00:01", "02:ab:cd:ef:00:01", false),
                      ("01:00:5e:00:00:01", "01:00:5e:00:00:01", true), ("ff:ff:ff:ff:ff:ff", "ff:ff:ff:ff:ff:ff", true)])
    func parsesMACs(text: String, canonical: String, multicast: Bool) throws {
        let mac = try #require(MACAddress(text))
        #expect(mac.description == canonical)
        #expect(mac.isMulticast == multicast)
    }

    @Test(arguments: ["", "52:54:00:12:34", "52:54:00:12:34:56:78", "52-54-00-12-34-56", "5:54:00:12:34:56",
                      "52:54:00:12:34:5g", "525400123456", "52:54:00:12:34:056"])
    func refusesMACs(text: String) {
        #expect(MACAddress(text) == nil)
    }

    @Test(arguments: [("eth0", true), ("veth-a.1_b", true), ("a23456789012345", true), ("a234567890123456", false),
                      ("", false), (".", false), ("..", false), ("eth/0", false), ("eth:0", false), ("eth 0", false),
                      ("eth\t0", false)])
    func checksInterfaceNames(name: String, valid: Bool) {
        #expect((InterfaceName.problem(name) == nil) == valid)
    }

    @Test(arguments: [("example.test", true), ("a.b-c.d_e.", true), ("svc.cluster.local", true), ("-a.test", false),
                      ("a-.test", false), ("a..test", false), ("", false), ("a b.test", false), ("bad!.test", false),
                      (String(repeating: "a", count: 64) + ".test", false), (String(repeating: "a.", count: 127) + "a", false)])
    func checksDomainNames(name: String, valid: Bool) {
        #expect((DomainName.problem(name) == nil) == valid)
    }
}
