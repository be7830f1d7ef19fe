#if FUZZING
import CLdns
import Logging
import Glibc
import NIOCore
import ResolverConfig

// libFuzzer entry points, compiled only into the fuzzing build (`scripts/fuzz`, docs/FUZZING.md).
// The code under test lives in this executable target, not in a library, so the targets live
// here too, with the process entry point of the fuzzing build (`FuzzMain`); without `-D FUZZING`
// this file is empty and the entry point is `BlockResolverCommand`'s (`Command/Main.swift`).
//
// One binary holds every target; `FUZZ_TARGET` picks one, so one build serves them all. A
// finding is a crash: a Swift trap, an AddressSanitizer report, or `fuzzFailure` when an answer
// the resolver wrote is not a message ldns can read.

/// The targets `FUZZ_TARGET` names.
enum FuzzTarget: String, CaseIterable {
    /// A client's message: `QueryParser`, `Verdict`, `MessageWriter.fit`.
    case query
    /// An upstream's reply: `ReplyParser.check`, `AnswerChain`, `ResponsePolicyStage.match`,
    /// the rewritten and the relayed answer.
    case reply
    case domains, hosts, rpz, ips
    /// The YAML config: `ConfigLoader.parse`.
    case config
}

/// The target of this process, read once.
let fuzzTarget: FuzzTarget = {
    guard let name = getenv("FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fuzzPrint("fuzz: set FUZZ_TARGET to one of \(names)")
        exit(2)
    }
    return target
}()

/// A small policy with every list response and every RPZ action, built once: the query and the
/// reply targets decide against it, so that fuzzed names and answers reach every answer writer.
let fuzzSnapshot: PolicySnapshot = {
    func domains(_ name: String, _ text: String, action: ListAction = .block, response: BlockResponse = .sinkhole,
                 sinkhole: ResolverSettings.Sinkhole = .init()) -> LoadedList {
        let settings = ListSettings(name: name, path: "/fuzz/" + name, pathAsWritten: name, format: .domains,
                                    action: action, category: name, configLine: 1, response: response,
                                    sinkhole: sinkhole)
        return loaded(settings, DomainsReader().parse(Array(text.utf8), fileName: name))
    }
    func loaded(_ settings: ListSettings, _ parsed: ParsedList) -> LoadedList {
        LoadedList(settings: settings, parsed: parsed, identity: .init(size: 0, modified: .init(), contentHash: 0),
                   loadSeconds: 0, reused: false)
    }
    let rpzSettings = ListSettings(name: "rpz", path: "/fuzz/rpz", pathAsWritten: "rpz", format: .rpz,
                                   action: .block, category: "rpz", configLine: 1)
    let ipsSettings = ListSettings(name: "ips", path: "/fuzz/ips", pathAsWritten: "ips", format: .ips,
                                   action: .block, category: "ips", configLine: 1)
    let lists = [
        domains("allow", "ok.sink.example\n", action: .allow),
        domains("watch", "watch.example\n", action: .monitor),
        domains("sink", "sink.example\n*.wild.example\n"),
        domains("landing", "landing.example\n", sinkhole: .init(cname: "landing.block-resolver.test")),
        domains("resolved", "resolved.example\n",
                sinkhole: .init(cname: "resolved.block-resolver.test", resolvesCNAME: true)),
        domains("nx", "nx.example\n", response: .nxdomain),
        domains("nodata", "nodata.example\n", response: .nodata),
        domains("refused", "refused.example\n", response: .refused),
        domains("drop", "drop.example\n", response: .drop),
        loaded(rpzSettings, RPZReader().parse(Array(fuzzRPZ.utf8), fileName: "rpz")),
        loaded(ipsSettings, IPsReader().parse(Array("192.0.2.0/24\n2001:db8:bad::/48\n".utf8), fileName: "ips")),
    ]
    do {
        let settings = try ConfigLoader(resolvConfPath: "/nonexistent").parse(
            yaml: "upstreams: [\"127.0.0.1:5300\"]\nlists: []\n", path: "/fuzz/config.yml")
        let parts = try PolicySnapshot.Parts(generation: 1, settings: settings, policy: CompiledPolicy(lists: lists))
        return PolicySnapshot(parts: parts, now: 0)
    } catch {
        fuzzFailure("the fuzzing policy does not build: \(error)")
    }
}()

/// Every trigger and action of an RPZ zone, wildcard local data included.
let fuzzRPZ = """
    $TTL 300
    $ORIGIN rpz.fuzz.
    @                     SOA  ns.fuzz. hostmaster.fuzz. ( 1 3600 600 86400 300 )
                          NS   ns.fuzz.
    judi.example          CNAME .
    *.judi.example        CNAME .
    empty.example         CNAME *.
    ok.judi.example       CNAME rpz-passthru.
    drop.example          CNAME rpz-drop.
    tcp.example           CNAME rpz-tcp-only.
    cname.example         CNAME landing.block-resolver.test.
    *.star.example        CNAME *.landing.block-resolver.test.
    local.example         A     192.0.2.80
    local.example         AAAA  2001:db8::80
    local.example         TXT   "blocked by RPZ"
    32.1.2.0.192.rpz-ip           CNAME .
    24.0.100.51.198.rpz-ip        CNAME rpz-drop.
    24.0.113.0.203.rpz-client-ip  CNAME rpz-tcp-only.
    """

/// A finding that is not a crash of its own: reported the way libFuzzer reports one.
func fuzzFailure(_ message: String) -> Never {
    fuzzPrint("fuzz: \(message)")
    abort()
}

/// A line to standard error, unbuffered (the process may abort next).
func fuzzPrint(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Every answer the resolver writes must be a message ldns reads.
func fuzzCheckAnswer(_ buffer: ByteBuffer, _ what: @autoclosure () -> String) {
    let bytes = Array(buffer.readableBytesView)
    let parsed = bytes.withUnsafeBytes { try? LdnsPacket(wire: $0) }
    if parsed == nil {
        fuzzFailure("\(what()): ldns cannot read the answer \(bytes.map { String($0, radix: 16) })")
    }
}

/// libFuzzer's driver. The toolchain's libFuzzer has its own `main`, but SwiftPM links an
/// executable target with `main` aliased to the module's entry point, so the process enters here
/// and hands itself to the driver (libFuzzer's `main` does only that). Declared by name: no C
/// header of the package declares it; its arguments are plain pointers, passed alike by Swift and C.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
enum FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzTestOneInput))
    }
}

@_cdecl("LLVMFuzzerInitialize")
func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32 {
    // Built before the first input, so its cost and its coverage are not the first input's.
    _ = fuzzTarget
    _ = fuzzSnapshot
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    switch fuzzTarget {
    case .query: fuzzQuery(bytes)
    case .reply: fuzzReply(bytes)
    case .domains: fuzzList(DomainsReader(), .domains, bytes)
    case .hosts: fuzzList(HostsReader(), .hosts, bytes)
    case .rpz: fuzzList(RPZReader(), .rpz, bytes)
    case .ips: fuzzList(IPsReader(), .ips, bytes)
    case .config: fuzzConfig(bytes)
    }
    return 0
}

private let fuzzAllocator = ByteBufferAllocator()

/// The client address a query is decided for: one the RPZ zone has a client trigger for when
/// the query's ID is odd, so that both kinds of decision are reached.
private let fuzzClients: [[UInt8]] = [[10, 0, 0, 1], [203, 0, 113, 9]]

// MARK: - Query path

/// Warnings and worse only: a refused NOTIFY is logged at notice, and millions of those lines
/// would fill the run's log and halve its executions a second.
private let fuzzNotify: NotifyStage = {
    var logger = Logger(label: "fuzz")
    logger.logLevel = .warning
    return NotifyStage(logger: logger)
}()

private func fuzzQuery(_ bytes: UnsafeRawBufferPointer) {
    let snapshot = fuzzSnapshot
    QueryParser.parse(bytes) { outcome in
        switch outcome {
        case .drop:
            break
        case .notify:
            // Judged against the fuzzing policy, which transfers no zone: always refused, never a crash.
            _ = fuzzNotify.answer(bytes, client: nil, settings: snapshot.settings)
        case .headerOnly(let id, let flags, let rcode):
            guard let wire = HeaderOnlyMessage.wire(id: id, echoedFlags: flags, rcode: rcode) else {
                fuzzFailure("no header-only answer for rcode \(rcode)")
            }
            var buffer = fuzzAllocator.buffer(capacity: wire.count)
            buffer.writeBytes(wire)
            fuzzCheckAnswer(buffer, "header-only answer")
        case .query(let query):
            let client = fuzzClients[Int(query.id & 1)]
            let match = query.withLowercasedName { name in
                client.withUnsafeBytes { snapshot.policy.decideQuery(name, active: snapshot.active, client: $0) }
            }
            for transport in [Transport.udp, .tcp] {
                fuzzVerdict(query, match: match, transport: transport, snapshot: snapshot)
            }
        }
    }
}

private func fuzzVerdict(_ query: Query, match: PolicyMatch?, transport: Transport, snapshot: PolicySnapshot) {
    switch Verdict.decide(query, match: match, snapshot: snapshot, transport: transport, allocator: fuzzAllocator) {
    case .forward, .drop:
        break
    case .answer(let buffer):
        fuzzCheckAnswer(buffer, "verdict answer over \(transport)")
        let limit = query.sizeLimit(transport, ednsUDPSize: snapshot.settings.ednsUDPSize)
        let fitted = MessageWriter.fit(buffer, limit: limit, query: query, opt: snapshot.parts.common.plainOPT,
                                       allocator: fuzzAllocator)
        fuzzCheckAnswer(fitted, "fitted answer over \(transport)")
        if fitted.readableBytes > limit {
            fuzzFailure("fitted answer over \(transport) of \(fitted.readableBytes) bytes, limit \(limit)")
        }
    case .follow(let follow):
        // The policy CNAME as the answer would carry it once its target is resolved (here: to
        // nothing), written by ldns.
        var parts = ReplyRewrite.Parts(question: Question(query), flags: query.replyFlags,
                                       rcode: DNSHeader.rcodeNOERROR)
        parts.records = [follow.cname]
        fuzzCheckResult(ResponsePolicyStage.answer(parts, Asked(query), decider: follow.decider, snapshot: snapshot,
                                                   allocator: fuzzAllocator), "followed policy CNAME")
    }
}

private func fuzzCheckResult(_ result: StageResult, _ what: @autoclosure () -> String) {
    if case .answer(let buffer, _, _) = result { fuzzCheckAnswer(buffer, what()) }
}

// MARK: - Upstream reply

/// The question the fixed-question half of the reply target asks (the seeds answer it).
private let fuzzQuestion = Question(name: [3, 0x77, 0x77, 0x77, 7] + Array("example".utf8) + [0], type: 1, class: 1)
private let fuzzReplyID: UInt16 = 0x4242

private func fuzzReply(_ bytes: UnsafeRawBufferPointer) {
    fuzzReply(bytes, id: fuzzReplyID, question: fuzzQuestion)
    // The same bytes against their own ID and question, so that most inputs get past the check.
    guard bytes.count >= DNSHeader.size, let packet = try? LdnsPacket(wire: bytes), let asked = packet.question,
          let owner = ldns_rr_owner(asked), let data = ldns_rdf_data(owner)
    else { return }
    let question = Question(name: Array(UnsafeBufferPointer(start: data, count: ldns_rdf_size(owner))),
                            type: UInt16(ldns_rr_get_type(asked).rawValue),
                            class: UInt16(ldns_rr_get_class(asked).rawValue))
    let id = ldns_pkt_id(packet.pointer)
    withExtendedLifetime(packet) {
        if id != fuzzReplyID || question != fuzzQuestion { fuzzReply(bytes, id: id, question: question) }
    }
}

private func fuzzReply(_ bytes: UnsafeRawBufferPointer, id: UInt16, question: Question) {
    guard let reply = ReplyParser.check(bytes, id: id, question: question) else { return }
    let image = reply.image
    let snapshot = fuzzSnapshot
    // The client's spelling of the name: the same name, another letter case.
    let spelled = Question(name: question.name.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 },
                           type: question.type, class: question.class)
    for (opt, dnssecOK) in [(nil, false), (snapshot.parts.common.plainOPT, true)] as [(OPTTemplate?, Bool)] {
        let answer = spelled.name.withUnsafeBufferPointer { name in
            image.answer(id: 0x1234, question: name, ttlCap: 3600, elapsed: 7, opt: opt, dnssecOK: dnssecOK,
                         allocator: fuzzAllocator)
        }
        fuzzCheckAnswer(answer, "relayed answer")
        let fitted = MessageWriter.fit(answer, limit: 512, id: 0x1234, flags: DNSHeader.replyFlags(
            recursionDesired: true, checkingDisabled: false), question: spelled, opt: opt, dnssecOK: dnssecOK,
            allocator: fuzzAllocator)
        fuzzCheckAnswer(fitted, "fitted relayed answer")
    }
    let asked = spelled.name.withUnsafeBufferPointer { name in
        Asked(Query(id: 0x1234, recursionDesired: true, checkingDisabled: false, name: name, type: spelled.type,
                    class: spelled.class, edns: Query.EDNS(udpSize: 1232, dnssecOK: false, version: 0)))
    }
    for client in fuzzClients {
        let hit = client.withUnsafeBytes { client in
            ResponsePolicyStage.match(image.chain, policy: snapshot.policy, active: snapshot.active, client: client,
                                      before: .max)
        }
        if let hit { fuzzRewrite(hit.match, owner: hit.owner, matched: hit.matched, image, asked, snapshot) }
    }
}

/// The answer the response policy writes for `match`, as `ResponsePolicyStage.apply` makes it
/// (without a query context: no transport but UDP, no counters), read back with ldns.
private func fuzzRewrite(_ match: PolicyMatch, owner: Int, matched: [UInt8], _ image: ReplyImage, _ asked: Asked,
                         _ snapshot: PolicySnapshot) {
    let list = snapshot.policy.lists[match.listIndex]
    guard list.settings.action == .block else { return }
    let decider = Decider(match, matched: matched)
    let ownerName = image.chain.name(owner: owner, question: asked.question.name.map(DomainName.lowercase))
    var parts = ReplyRewrite.Parts(question: asked.question, flags: asked.flags, rcode: DNSHeader.rcodeNOERROR)
    parts.base = image
    parts.keep = image.chain.recordsThrough(owner: owner)
    let soa = ResponsePolicyStage.soaLine(owner: ownerName, ttl: list.settings.sinkhole.ttl)
    func answer(_ parts: ReplyRewrite.Parts, _ what: String) {
        fuzzCheckResult(ResponsePolicyStage.answer(parts, asked, decider: decider, snapshot: snapshot,
                                                   allocator: fuzzAllocator), "rewritten answer (\(what))")
    }
    switch list.parsed.rules[match.ruleIndex].action {
    case .passthru, .drop, .tcpOnly:
        break
    case .list:
        asked.withQuery { query in
            let entry = PolicyMatch(listIndex: match.listIndex, ruleIndex: match.ruleIndex, suffixOffset: 0,
                                    trigger: match.trigger)
            fuzzVerdict(query, match: entry, transport: .udp, snapshot: snapshot)
        }
    case .nxdomain:
        parts.rcode = DNSHeader.rcodeNXDOMAIN
        parts.authority = [soa]
        answer(parts, "nxdomain")
    case .nodata:
        parts.authority = [soa]
        answer(parts, "nodata")
    case .localData:
        guard let local = snapshot.parts.answers[match.listIndex].localData[match.ruleIndex] else { return }
        if let cname = local.policyCNAME(for: asked.question.type) {
            guard let target = cname.target(for: ownerName) else { return }
            parts.records = [LocalAnswer.PolicyCNAME.line(owner: ownerName, ttl: cname.ttl, target: target)]
            answer(parts, "policy CNAME")
        } else {
            parts.records = local.lines(asked.question.type, owner: ownerName)
            if parts.records.isEmpty { parts.authority = [soa] }
            answer(parts, "local data")
        }
    }
}

// MARK: - Lists and config

/// The settings the list targets compile their list with.
private let fuzzListSettings: ResolverSettings = {
    do {
        return try ConfigLoader(resolvConfPath: "/nonexistent").parse(
            yaml: "upstreams: [\"127.0.0.1:5300\"]\nlists: []\n", path: "/fuzz/config.yml")
    } catch {
        fuzzFailure("the fuzzing config does not load: \(error)")
    }
}()

/// A list file read, then compiled into a policy with its answer templates (RPZ local data is
/// made into records by ldns there), as a reload does.
private func fuzzList(_ reader: some ListReader, _ format: ListFormat, _ bytes: UnsafeRawBufferPointer) {
    let parsed = reader.parse(Array(bytes), fileName: "fuzz." + format.rawValue)
    let settings = ListSettings(name: "fuzz", path: "/fuzz/list", pathAsWritten: "list", format: format,
                                action: .block, category: "fuzz", configLine: 1)
    let list = LoadedList(settings: settings, parsed: parsed, identity: .init(size: 0, modified: .init(), contentHash: 0),
                          loadSeconds: 0, reused: false)
    guard let policy = try? CompiledPolicy(lists: [list]) else { return }
    _ = try? PolicySnapshot.Parts(generation: 1, settings: fuzzListSettings, policy: policy)
}

private func fuzzConfig(_ bytes: UnsafeRawBufferPointer) {
    guard let text = String(validating: bytes, as: UTF8.self) else { return }
    _ = try? ConfigLoader(resolvConfPath: "/nonexistent", coreCount: 2).parse(yaml: text, path: "/fuzz/config.yml")
}
#endif
