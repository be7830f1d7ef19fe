import ArgumentParser
import Foundation
import NIOCore
import ResolverConfig

/// `block-resolver explain`: why a name is (or is not) blocked, and what a client would get.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show every list entry that matches a name, which one decides and why, and the exact answer.",
        discussion: """
            Reads the config and its lists as `run` would, without starting a server. Prints each \
            matching entry (list, file:line, format, whether its schedule is in force now), the entry \
            that decides and the rule that made it win, and the answer a client asking with EDNS \
            would get: rcode, records and Extended DNS Error, as ldns prints the message. Names that \
            no block entry decides are forwarded to the upstreams; the upstreams are not asked.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Argument(help: ArgumentHelp("The domain name to explain, such as www.paypal.com.", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("The query type (A, AAAA, MX, TXT, …).", valueName: "type"))
    var type: String = "A"

    func run() throws {
        guard let qtype = QueryBuilder.type(named: type) else {
            throw ValidationError("\"\(type)\" is not a DNS record type")
        }
        let wire: [UInt8]
        switch DomainName.wireForm(name) {
        case .success(let value): wire = value
        case .failure(let problem): throw ValidationError("\"\(name)\" is not a domain name: \(problem)")
        }
        let settings = try options.loadSettings()
        let lists = ReportLists(settings)
        if !lists.failures.isEmpty {
            for failure in lists.failures { print("error: \(failure)") }
            print("the config cannot be served (run refuses to start and a reload keeps the old policy)")
            throw ExitCode.failure
        }
        let policy = try CompiledPolicy(lists: lists.loaded, precedence: settings.precedence)
        let now = Date().timeIntervalSince1970
        let snapshot = PolicySnapshot(parts: try PolicySnapshot.Parts(generation: 1, settings: settings, policy: policy),
                                      now: now)
        let presentation = DomainName.presentation(ofWire: wire)
        print("\(presentation) \(QueryBuilder.typeName(qtype)), at \(ListSchedule.format(now))")

        let matches = wire.withUnsafeBufferPointer { policy.allMatches($0) }
        if matches.isEmpty { print("no list holds this name or a name above it") }
        for match in matches {
            let list = policy.lists[Int(match.member.list)]
            let rule = list.parsed.rules[Int(match.member.rule)]
            let entry = wire[match.suffixOffset...]
            let lines = ReportLists.lines(of: entry, rule: Int(match.member.rule), in: list)
            let place = lines.map { "\(list.settings.pathAsWritten):\($0)" }.joined(separator: ", ")
            var notes = [list.settings.schedule.describe(at: now)]
            if !match.applies { notes.append("does not apply here: its trigger covers \(rule.scopeDescription)") }
            if list.settings.action == .monitor { notes.append("monitor: counted and logged, never decides") }
            let action = list.parsed.entryRules.isEmpty ? list.settings.action.rawValue
                : "\(list.settings.action.rawValue), \(rule.actionName)"
            print("  entry \(DomainName.presentation(ofWire: entry)) in list \(list.settings.name) "
                  + "(\(list.settings.format.rawValue), \(action)) at \(place): \(notes.joined(separator: "; "))")
        }

        let decision = wire.withUnsafeBufferPointer { policy.decide($0, active: snapshot.active) }
        print(Self.reason(decision, matches: matches, policy: policy, active: snapshot.active))

        let query = try QueryBuilder.query(name: presentation, type: qtype, edns: true)
        let verdict: Verdict = query.withUnsafeBytes { bytes in
            QueryParser.parse(bytes) { outcome in
                guard case .query(let parsed) = outcome else { return .drop }
                let verdict = Verdict.decide(parsed, match: decision, snapshot: snapshot, transport: .udp,
                                             allocator: ByteBufferAllocator())
                guard case .answer(let buffer) = verdict else { return verdict }
                // Fitted as the server fits it (FitStage): this client's size under `edns_udp_size`.
                return .answer(MessageWriter.fit(buffer, limit: parsed.sizeLimit(.udp, ednsUDPSize: settings.ednsUDPSize),
                                                 query: parsed, opt: snapshot.parts.common.plainOPT,
                                                 allocator: ByteBufferAllocator()))
            }
        }
        switch verdict {
        case .forward:
            print("answer: forwarded to \(settings.upstreams.map(\.description).joined(separator: ", ")) and relayed as is")
        case .drop:
            print("answer: none (the query is dropped)")
        case .follow(let follow):
            print("answer: \(follow.cname), then the answer for \(DomainName.presentation(ofWire: follow.target)) "
                  + "from the upstreams (a policy CNAME is followed; its target is not judged again)")
        case .answer(let buffer):
            let bytes = Array(buffer.readableBytesView)
            print("answer (to a query over UDP with EDNS):")
            // ldns also prints transfer details (query time, date, size) that mean nothing here.
            let shown = QueryBuilder.describe(bytes).split(separator: "\n")
                .filter { !$0.hasPrefix(";; Query time") && !$0.hasPrefix(";; WHEN") && !$0.hasPrefix(";; MSG SIZE")
                    && !$0.hasPrefix(";; SERVER") }
            print(shown.map { "    " + $0 }.joined(separator: "\n"))
            if let list = decision.map({ policy.lists[$0.listIndex].settings }), let code = list.ede {
                print("EDE: \(code) (\(Self.edeName(code))): \(list.edeText)")
            }
        }
    }

    /// Why `decision` won, in one sentence.
    static func reason(_ decision: PolicyMatch?, matches: [(member: DomainTable.Member, suffixOffset: Int, applies: Bool)],
                       policy: CompiledPolicy, active: [Bool]) -> String {
        guard let decision else {
            return matches.isEmpty ? "decision: none; the query is forwarded"
                : "decision: none of these entries is in force here; the query is forwarded"
        }
        let list = policy.lists[decision.listIndex].settings
        let rivals = matches.filter { match in
            match.suffixOffset == decision.suffixOffset && match.applies && active[Int(match.member.list)]
                && policy.lists[Int(match.member.list)].settings.action != .monitor
                && !(Int(match.member.list) == decision.listIndex && Int(match.member.rule) == decision.ruleIndex)
        }
        let lessSpecific = matches.contains { $0.suffixOffset > decision.suffixOffset && $0.applies }
        var why = "the most specific entry in force"
        if !rivals.isEmpty {
            let allowWon = list.action == .allow
                || policy.lists[decision.listIndex].parsed.rules[decision.ruleIndex].action == .passthru
            why = allowWon ? "on a tie for the same name, allow wins over block"
                : "on a tie for the same name, the list named first in the config wins"
        } else if lessSpecific {
            why = "the most specific entry in force; less specific entries do not decide"
        }
        return "decision: list \(list.name) (\(list.action.rawValue)): \(why)"
    }

    static func edeName(_ code: UInt16) -> String {
        switch code {
        case 15: return "Blocked"
        case 16: return "Censored"
        case 17: return "Filtered"
        default: return "code \(code)"
        }
    }
}
