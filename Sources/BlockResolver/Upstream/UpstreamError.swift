/// Why one try at an upstream gave no usable answer.
enum UpstreamError: Error, CustomStringConvertible {
    case timeout
    case closedWithoutAnswer
    case all([String])

    var description: String {
        switch self {
        case .timeout: return "no answer in time"
        case .closedWithoutAnswer: return "connection closed before an answer"
        case .all(let reasons): return "every upstream failed: " + reasons.joined(separator: "; ")
        }
    }
}
