/// How a message reached the resolver. It decides the size limit of the answer (UDP only) and
/// labels metrics and query-log lines.
enum Transport: String, Sendable {
    case udp, tcp
}
