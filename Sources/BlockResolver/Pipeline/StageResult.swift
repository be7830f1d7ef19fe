import NIOCore

/// What a stage of `QueryPipeline` says of a query: go on to the next stage, or this is the end
/// of it (with an answer, or silently), and the outcome to record.
enum StageResult {
    case next
    /// Answer with `reply` (still to be fitted to the client), recorded as `outcome`; `by` is
    /// the deciding list entry, for the query log.
    case answer(ByteBuffer, QueryOutcome, by: Decider?)
    /// Send nothing.
    case silent(QueryOutcome, by: Decider?)
}
