import NIOCore

/// What a stage of `QueryPipeline` says of a query: go on to the next stage, or this is the end
/// of it (with an answer, or silently), and the outcome to record.
enum StageResult {
    case next
    /// Answer with `reply` (still to be fitted to the client), recorded as `outcome`; `list` is
    /// the index of the deciding list, for the query log.
    case answer(ByteBuffer, QueryOutcome, list: Int?)
    /// Send nothing.
    case silent(QueryOutcome, list: Int?)
}
