/// Stage 2: an EDNS version this resolver does not speak gets BADVERS, with an OPT record of
/// version 0, the one it does (RFC 6891 6.1.3); nothing else is done with the query. (Malformed
/// OPT records never get this far: `QueryParser` answers them FORMERR.)
enum EDNSVersionStage {
    @inline(__always)
    static func check(_ query: Query, _ context: QueryContext) -> StageResult {
        guard let edns = query.edns, edns.version > 0 else { return .next }
        return .answer(MessageWriter.empty(query, rcode: DNSHeader.rcodeNOERROR,
                                           opt: context.snapshot.parts.common.badVersionOPT,
                                           allocator: context.allocator), .badvers, by: nil)
    }
}
