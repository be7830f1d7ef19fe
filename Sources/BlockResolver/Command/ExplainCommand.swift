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
            no block entry decides are forwarded to the upstreams; the upstreams are asked only with \
            --resolve, which then explains every name of the answer's CNAME/DNAME chain and every \
            address in it, and which entry decides for the answer, as the server judges it. An IP \
            address instead of a name shows the entries an answer holding that address matches \
            (`ips` lists, RPZ rpz-ip) and those a client at that address matches (rpz-client-ip). \
            The decision follows the config's `precedence`.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Explain a query from this client address: lists with `clients:` and RPZ rpz-client-ip "
                               + "triggers apply as they would to it (without it, lists with `clients:` do not apply).",
                               valueName: "address"))
    var client: String?

    @Flag(help: "Ask the first upstream too, and explain every name and address of the answer's chain.")
    var resolve = false

    @Argument(help: ArgumentHelp("The domain name to explain, such as www.paypal.com, or an IP address.",
                                 valueName: "name-or-address"))
    var name: String

    @Argument(help: ArgumentHelp("The query type (A, AAAA, MX, TXT, …).", valueName: "type"))
    var type: String = "A"

    func run() throws {
        guard let qtype = QueryBuilder.type(named: type) else {
            throw ValidationError("\"\(type)\" is not a DNS record type")
        }
        let clientBytes = try client.map { text throws in
            guard let cidr = CIDR.parse(text), !text.contains("/") else {
                throw ValidationError("--client \"\(text)\" is not an IP address")
            }
            return cidr.network
        }
        let address = CIDR.parse(name).flatMap { name.contains("/") ? nil : $0.network }
        var wire: [UInt8] = []
        if address == nil {
            switch DomainName.wireForm(name) {
            case .success(let value): wire = value
            case .failure(let problem): throw ValidationError("\"\(name)\" is neither an IP address nor a domain name: \(problem)")
            }
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
        if let address {
            Self.explainAddress(address, policy: policy, active: snapshot.active, client: clientBytes, now: now)
            return
        }
        let presentation = DomainName.presentation(ofWire: wire)
        print("\(presentation) \(QueryBuilder.typeName(qtype)), at \(ListSchedule.format(now))"
              + (client.map { ", from \($0)" } ?? ""))
        if let clientBytes {
            Self.printAddressEntries(clientBytes, table: policy.clientAddresses, trigger: .client, policy: policy,
                                     heading: "the client's address")
        }
        let decision = clientBytes.withUnsafeBytesOrNil { client in
            wire.withUnsafeBufferPointer { policy.decideQuery($0, active: snapshot.active, client: client) }
        }
        Self.printNameEntries(wire, policy: policy, now: now, client: clientBytes, indent: "  ")
        print(Self.reason(decision, matches: wire.withUnsafeBufferPointer { policy.allMatches($0) }, policy: policy,
                          active: snapshot.active))
        try answer(wire, qtype: qtype, decision: decision, snapshot: snapshot, settings: settings, clientBytes: clientBytes)
    }

    /// Every entry of `name` (wire form) and of the names above it, with whether it applies.
    static func printNameEntries(_ wire: [UInt8], policy: CompiledPolicy, now: Double, client: [UInt8]?, indent: String) {
        let matches = wire.withUnsafeBufferPointer { policy.allMatches($0) }
        if matches.isEmpty { print("\(indent)no list holds this name or a name above it") }
        for match in matches {
            let list = policy.lists[Int(match.member.list)]
            let rule = list.parsed.rules[Int(match.member.rule)]
            let entry = wire[match.suffixOffset...]
            let lines = ReportLists.lines(of: entry, rule: Int(match.member.rule), in: list)
            let place = lines.map { "\(list.settings.pathAsWritten):\($0)" }.joined(separator: ", ")
            var notes = [list.settings.schedule.describe(at: now)]
            if !match.applies { notes.append("does not apply here: its trigger covers \(rule.scopeDescription)") }
            if list.settings.action == .monitor { notes.append("monitor: counted and logged, never decides") }
            if let scope = list.settings.clients, !client.withUnsafeBytesOrNil({ policy.applies(Int(match.member.list), to: $0) }) {
                notes.append("does not apply to this client (clients: \(scope.map(\.description).joined(separator: ", ")))")
            }
            let action = list.parsed.entryRules.isEmpty ? list.settings.action.rawValue
                : "\(list.settings.action.rawValue), \(rule.actionName)"
            print("\(indent)entry \(DomainName.presentation(ofWire: entry)) in list \(list.settings.name) "
                  + "(\(list.settings.format.rawValue), \(action)) at \(place): \(notes.joined(separator: "; "))")
        }
    }

    /// The answer a client gets, and with --resolve the upstream's answer judged.
    private func answer(_ wire: [UInt8], qtype: UInt16, decision: PolicyMatch?, snapshot: PolicySnapshot,
                        settings: ResolverSettings, clientBytes: [UInt8]?) throws {
        let policy = snapshot.policy
        let presentation = DomainName.presentation(ofWire: wire)
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
            let limit = QueryPolicyStage.responseLimit(after: decision, policy)
            guard resolve else {
                let upstreams = settings.upstreams.map(\.description).joined(separator: ", ")
                print(limit == 0
                      ? "answer: forwarded to \(upstreams) and relayed as is: the allow entry lets its answer's chain through"
                      : "answer: forwarded to \(upstreams); its answer's CNAME targets and addresses are judged too "
                        + (limit == .max ? "" : "by the lists before this one ") + "(--resolve asks the upstream and shows how)")
                return
            }
            try Self.resolveAndJudge(Question(name: wire, type: qtype, class: RecordType.classIN), settings: settings,
                                     policy: policy, active: snapshot.active, client: clientBytes, limit: limit)
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
        if decision.trigger == .client {
            return "decision: list \(list.name) (\(list.action.rawValue)): the client's address matches an rpz-client-ip "
                + "trigger, which comes before the name's entries"
        }
        if policy.precedence == .listed {
            return "decision: list \(list.name) (\(list.action.rawValue)): the first list in the config with a match "
                + "(precedence: listed), its most specific entry"
        }
        let rivals = matches.filter { match in
            match.suffixOffset == decision.suffixOffset && match.applies && active[Int(match.member.list)]
                && policy.lists[Int(match.member.list)].settings.action != .monitor
                && !(Int(match.member.list) == decision.listIndex && Int(match.member.rule) == decision.ruleIndex)
        }
        let lessSpecific = matches.contains { $0.suffixOffset > decision.suffixOffset && $0.applies }
        var why = "the most specific entry in force"
        if !rivals.isEmpty {
            let allowWon = policy.lists[decision.listIndex].allows(rule: decision.ruleIndex)
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

    /// The entries an answer holding `address` matches, and those of a client at `address`.
    static func explainAddress(_ address: [UInt8], policy: CompiledPolicy, active: [Bool], client: [UInt8]?, now: Double) {
        let text = CIDR.addressText(address)
        print("\(text), at \(ListSchedule.format(now))")
        printAddressEntries(address, table: policy.answerAddresses, trigger: .answer, policy: policy,
                            heading: "as an address in an answer")
        let inAnswer = address.withUnsafeBytes { bytes in
            client.withUnsafeBytesOrNil { policy.decideAddress(bytes, active: active, client: $0) }
        }
        print("  decision for an answer holding it: " + describe(inAnswer, policy: policy))
        printAddressEntries(address, table: policy.clientAddresses, trigger: .client, policy: policy,
                            heading: "as the address of a client")
        // The root name is in no list: what decides is the client's address alone.
        let asClient = address.withUnsafeBytes { bytes in
            [UInt8(0)].withUnsafeBufferPointer { root in policy.decideQuery(root, active: active, client: bytes) }
        }
        print("  decision for a query from it (by address alone): "
              + describe(asClient?.trigger == .client ? asClient : nil, policy: policy))
    }

    /// Each entry of `table` whose prefix holds `address`, longest prefix first, with its file line.
    static func printAddressEntries(_ address: [UInt8], table: AddressTable, trigger: AddressTrigger,
                                    policy: CompiledPolicy, heading: String) {
        var lines: [String] = []
        address.withUnsafeBytes { bytes in
            table.lookup(bytes) { group, length in
                for member in table.groups[group] {
                    let list = policy.lists[Int(member.list)]
                    // An IPv4-mapped address matches IPv4 entries by the four bytes it carries.
                    var cidr = CIDR(network: address, prefix: length)
                    if table.exactGroup(cidr) != group { cidr = CIDR(network: Array(address.suffix(4)), prefix: length) }
                    let line = list.parsed.addresses.first {
                        $0.cidr == cidr && $0.trigger == trigger && Int($0.rule) == Int(member.rule)
                    }.map { "\(list.settings.pathAsWritten):\($0.line)" } ?? list.settings.pathAsWritten
                    let rule = list.parsed.rules[Int(member.rule)]
                    let action = list.settings.format == .rpz ? "\(list.settings.action.rawValue), \(rule.actionName)"
                        : list.settings.action.rawValue
                    lines.append("    entry \(cidr) in list \(list.settings.name) (\(list.settings.format.rawValue), "
                                 + "\(action)) at \(line)")
                }
                return false
            }
        }
        print("  \(heading): " + (lines.isEmpty ? "no entry holds it" : "\(lines.count) entries, longest prefix first"))
        for line in lines { print(line) }
    }

    /// A decision in a few words: the list, the entry's action, the kind of trigger.
    static func describe(_ match: PolicyMatch?, policy: CompiledPolicy) -> String {
        guard let match else { return "none" }
        let list = policy.lists[match.listIndex]
        let rule = list.parsed.rules[match.ruleIndex]
        let action = list.settings.format == .rpz ? "\(list.settings.action.rawValue), \(rule.actionName)"
            : list.settings.action.rawValue
        return "list \(list.settings.name) (\(action)), \(match.trigger.rawValue) trigger"
    }

    /// `explain --resolve`: the upstream's answer, every name and address of its chain with their
    /// entries, and the entry that decides for the answer (`ResponsePolicyStage.match`).
    static func resolveAndJudge(_ question: Question, settings: ResolverSettings, policy: CompiledPolicy, active: [Bool],
                                client: [UInt8]?, limit: Int) throws {
        guard let upstream = settings.upstreams.first else {
            print("answer: forwarded, but the config names no upstream to ask")
            return
        }
        let reply = try UpstreamAsker(upstream: upstream, timeoutMilliseconds: settings.timeoutMilliseconds,
                                      source: settings.outgoing(upstream.address.family).randomElement()).ask(question)
        print("upstream \(upstream) answered:")
        let shown = QueryBuilder.describe(reply.image.wire).split(separator: "\n")
            .filter { !$0.hasPrefix(";; Query time") && !$0.hasPrefix(";; WHEN") && !$0.hasPrefix(";; MSG SIZE")
                && !$0.hasPrefix(";; SERVER") }
        print(shown.map { "    " + $0 }.joined(separator: "\n"))
        let chain = reply.image.chain
        if limit == 0 {
            print("the question name's allow entry lets its chain through: the answer is not judged")
            return
        }
        for link in chain.links {
            print("  chain name \(DomainName.presentation(ofWire: link.name)):")
            printNameEntries(link.name, policy: policy, now: Date().timeIntervalSince1970, client: client, indent: "    ")
        }
        for address in chain.addresses {
            let text = CIDR.addressText(address.bytes)
            printAddressEntries(address.bytes, table: policy.answerAddresses, trigger: .answer, policy: policy,
                                heading: "answer address \(text)")
        }
        let decided = client.withUnsafeBytesOrNil { client in
            ResponsePolicyStage.match(chain, policy: policy, active: active, client: client, before: limit)
        }
        guard let decided else {
            print("decision for the answer: no entry in force matches its chain or addresses; relayed as is")
            return
        }
        let matched = decided.match.trigger == .ip
            ? CIDR.addressText(decided.matched)
            : DomainName.presentation(ofWire: decided.matched)
        print("decision for the answer: \(describe(decided.match, policy: policy)) on \(matched)")
        let list = policy.lists[decided.match.listIndex]
        if list.settings.action != .block || list.allows(rule: decided.match.ruleIndex) {
            print("answer: relayed as is (an allow entry lets it through)")
        } else if list.parsed.rules[decided.match.ruleIndex].action == .list {
            print("answer: list \(list.settings.name)'s blocked answer for the question itself (the client never sees "
                  + "the chain's target or addresses)")
        } else {
            print("answer: the chain up to \(DomainName.presentation(ofWire: chain.name(owner: decided.owner, question: question.name.map(DomainName.lowercase)))), "
                  + "then the rule's action (\(list.parsed.rules[decided.match.ruleIndex].actionName)) for it")
        }
    }
}
