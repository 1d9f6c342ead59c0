// A container's name-service files: resolv.conf, hosts and hostname, written in the guest for the
// container's spec to bind-mount over /etc/resolv.conf, /etc/hosts and /etc/hostname (what CRI and Docker
// give a runc container from files on the host). Every value is checked as the C library's resolver reads
// it, so a file never holds a line the resolver would misread; each file is written atomically.
import GuestProto
import GuestSys

/// Writes WriteNetworkFiles requests.
public enum NetworkFiles {
    /// Where each container's files go: `<root>/<container id>/`.
    public static let root = "/run/guestkit/network"

    /// MAXNS in <resolv.h>: the C library reads no more name servers.
    static let maximumNameservers = 3
    static let maximumSearchDomains = 32
    static let maximumOptions = 16
    static let maximumHostsEntries = 1024

    /// Checks everything, then writes the files; returns their paths.
    public static func write(_ request: Guestkit_V1_WriteNetworkFilesRequest, root: String = root) throws(NetworkError) -> Guestkit_V1_WriteNetworkFilesResponse {
        let id = request.containerID
        guard !id.isEmpty, id.utf8.count <= 128, id != ".", id != "..",
              id.utf8.allSatisfy({ isIdentifierByte($0) }) else {
            throw .invalidArgument("container_id \"\(id)\": use 1-128 letters, digits, _ + - . (not \".\" or \"..\")")
        }
        let resolv = try resolvConf(request)
        let hosts = try hostsFile(request)
        var hostname: String?
        if !request.hostname.isEmpty {
            if let problem = DomainName.problem(request.hostname, maximumLength: DomainName.maximumHostNameLength) {
                throw .invalidArgument("hostname \"\(request.hostname)\" \(problem)")
            }
            hostname = request.hostname + "\n"
        }
        let directory = root + "/" + id
        var response = Guestkit_V1_WriteNetworkFilesResponse()
        do throws(SysError) {
            try FileSystem.makeDirectories(directory, mode: 0o755)
            response.resolvConf = directory + "/resolv.conf"
            try FileSystem.writeFileAtomically(response.resolvConf, resolv, mode: 0o644)
            response.hosts = directory + "/hosts"
            try FileSystem.writeFileAtomically(response.hosts, hosts, mode: 0o644)
            if let hostname {
                response.hostname = directory + "/hostname"
                try FileSystem.writeFileAtomically(response.hostname, hostname, mode: 0o644)
            }
        } catch {
            throw .system(error)
        }
        return response
    }

    static func resolvConf(_ request: Guestkit_V1_WriteNetworkFilesRequest) throws(NetworkError) -> String {
        guard request.nameservers.count <= maximumNameservers else {
            throw .invalidArgument("\(request.nameservers.count) nameservers: the C library reads at most \(maximumNameservers)")
        }
        var lines: [String] = []
        for (position, text) in request.nameservers.enumerated() {
            guard let address = IPAddress(text), !address.isUnspecified, !address.isMulticast else {
                throw .invalidArgument("nameservers[\(position)] \"\(text)\" is not a unicast IPv4 or IPv6 address")
            }
            lines.append("nameserver \(address)")
        }
        guard request.search.count <= maximumSearchDomains else {
            throw .invalidArgument("\(request.search.count) search domains: at most \(maximumSearchDomains)")
        }
        for (position, domain) in request.search.enumerated() {
            if let problem = DomainName.problem(domain) {
                throw .invalidArgument("search[\(position)] \"\(domain)\" \(problem)")
            }
        }
        if !request.search.isEmpty { lines.append("search " + request.search.joined(separator: " ")) }
        guard request.dnsOptions.count <= maximumOptions else {
            throw .invalidArgument("\(request.dnsOptions.count) dns_options: at most \(maximumOptions)")
        }
        for (position, option) in request.dnsOptions.enumerated() {
            let valid = !option.isEmpty && option.utf8.count <= 64 && option.utf8.allSatisfy { byte in
                isIdentifierByte(byte) || byte == UInt8(ascii: ":")
            }
            guard valid else {
                throw .invalidArgument("dns_options[\(position)] \"\(option)\" is not a resolver option (ndots:5, edns0, timeout:2)")
            }
        }
        if !request.dnsOptions.isEmpty { lines.append("options " + request.dnsOptions.joined(separator: " ")) }
        return lines.map { $0 + "\n" }.joined()
    }

    static func hostsFile(_ request: Guestkit_V1_WriteNetworkFilesRequest) throws(NetworkError) -> String {
        guard request.hosts.count <= maximumHostsEntries else {
            throw .invalidArgument("\(request.hosts.count) hosts entries: at most \(maximumHostsEntries)")
        }
        var lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        for (position, entry) in request.hosts.enumerated() {
            guard let address = IPAddress(entry.address) else {
                throw .invalidArgument("hosts[\(position)] address \"\(entry.address)\" is not an IPv4 or IPv6 address")
            }
            guard !entry.names.isEmpty else { throw .invalidArgument("hosts[\(position)] \(address) has no names") }
            for name in entry.names {
                if let problem = DomainName.problem(name) {
                    throw .invalidArgument("hosts[\(position)] name \"\(name)\" \(problem)")
                }
            }
            lines.append("\(address)\t" + entry.names.joined(separator: " "))
        }
        return lines.map { $0 + "\n" }.joined()
    }

    /// Letters, digits and _ + - . (container ids; resolver options add ':').
    static func isIdentifierByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }
}
