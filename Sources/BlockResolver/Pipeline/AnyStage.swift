/// Stage 4: ANY gets the minimal answer of RFC 8482 (a synthesized HINFO), never everything the
/// name has: no amplification, and nothing to forward or cache.
enum AnyStage {
    @inline(__always)
    static func check(_ query: Query, _ context: QueryContext) -> StageResult {
        guard query.type == RecordType.any else { return .next }
        let common = context.snapshot.parts.common
        return .answer(MessageWriter.records(query, [common.anyHINFO], opt: common.plainOPT, allocator: context.allocator),
                       .any, by: nil)
    }
}
