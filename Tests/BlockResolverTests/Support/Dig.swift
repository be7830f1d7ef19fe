import Foundation

/// Runs `dig` against a test server and reads what it printed.
struct Dig {
    let server: String
    let port: Int

    /// What dig printed, with the parts tests look at picked out.
    struct Result: CustomStringConvertible {
        let output: String

        /// `NOERROR`, `NXDOMAIN`, … or nil when no answer came.
        var status: String? { capture(#"status: ([A-Z]+)"#) }
        var flags: [String] { capture(#";; flags: ([a-z ]+);"#)?.split(separator: " ").map(String.init) ?? [] }
        var id: Int? { capture(#"id: ([0-9]+)"#).flatMap { Int($0) } }
        var answer: [String] { section("ANSWER") }
        var authority: [String] { section("AUTHORITY") }
        var question: [String] { section("QUESTION") }
        var hasOPT: Bool { output.contains("OPT PSEUDOSECTION") }
        /// The OPT pseudosection's EDNS line, such as `version: 0, flags: do; udp: 1232`.
        var edns: String? { capture(#"; EDNS: ([^\n]+)"#) }
        /// The UDP size in the OPT pseudosection.
        var ednsUDPSize: Int? { capture(#"; EDNS: [^\n]*udp: ([0-9]+)"#).flatMap { Int($0) } }
        /// ARCOUNT as dig printed it in the header (the OPT record counts).
        var additionalCount: Int? { capture(#"ADDITIONAL: ([0-9]+)"#).flatMap { Int($0) } }
        /// The EDE line, such as `16 (Censored): (PSE not registered)`.
        var ede: String? { capture(#"; EDE: ([^\n]+)"#) }
        var description: String { output }

        /// The record data (last field) of each answer record.
        var answerData: [String] {
            answer.map { line in line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst(4).joined(separator: " ") }
        }

        func capture(_ pattern: String) -> String? {
            guard let regex = try? NSRegularExpression(pattern: pattern),
                  let match = regex.firstMatch(in: output, range: NSRange(output.startIndex..., in: output)),
                  let range = Range(match.range(at: 1), in: output)
            else { return nil }
            return String(output[range])
        }

        func section(_ name: String) -> [String] {
            var lines: [String] = []
            var inside = false
            for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(";; \(name) SECTION:") { inside = true; continue }
                if inside {
                    if line.isEmpty || line.hasPrefix(";;") { break }
                    lines.append(String(line.hasPrefix(";") ? line.dropFirst() : line))
                }
            }
            return lines
        }
    }

    /// `dig @server -p port name type`, one try, with `options` such as `+tcp`, `+noedns`.
    func query(_ name: String, _ type: String = "A", _ options: [String] = []) throws -> Result {
        let dig = try TestTools.path(of: "dig", package: "bind9-dnsutils")
        let run = try TestTools.run(dig, ["@\(server)", "-p", "\(port)", name, type, "+tries=1", "+time=4", "+nocookie"] + options)
        return Result(output: run.output)
    }
}
