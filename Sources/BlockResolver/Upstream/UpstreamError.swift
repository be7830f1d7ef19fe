/// Why one try at an upstream gave no usable answer.
enum UpstreamError: Error, CustomStringConvertible {
    case timeout
    case closedWithoutAnswer
    /// Too many queries already wait on the upstream's connection.
    case busy
    case all([String])

    var description: String {
        switch self {
        case .timeout: return "no answer in time"
        case .closedWithoutAnswer: return "connection closed before an answer"
        case .busy: return "too many queries waiting on the connection"
        case .all(let reasons): return "every upstream failed: " + reasons.joined(separator: "; ")
        }
    }
}
