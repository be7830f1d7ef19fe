import Foundation
import NIOCore
import NIOHTTP1

/// Answers DNS-over-HTTPS requests (RFC 8484) of one HTTP/1.1 connection or one HTTP/2 stream
/// (NIOHTTP2's `HTTP2FramePayloadToHTTP1ServerCodec` turns a stream into HTTP/1 parts, so one
/// handler serves both; HTTP/2 streams are answered concurrently, each in its own channel).
///
/// `GET /dns-query?dns=` (base64url without padding) and `POST /dns-query` with
/// `content-type: application/dns-message`. Another path is 404, another method 405, a POST of
/// another type 415, a message over 65,535 bytes 413, anything that is not a DNS query 400. The
/// answer carries `cache-control: max-age` of its smallest TTL (RFC 8484 5.1). A query the
/// pipeline answers with silence (a `drop` list) closes the stream (HTTP/1.1: the connection).
final class DoHQueryHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let path = "/dns-query"
    static let contentType = "application/dns-message"
    /// The largest DNS message (RFC 8484 6: a message is at most 65,535 bytes, as over TCP).
    static let maxMessage = 65_535

    private let pipeline: QueryPipeline
    private let loop: LoopContext
    private let connection: DoHConnectionHandler
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    /// The status the request gets whatever its body holds, decided at its head.
    private var refusal: (HTTPResponseStatus, String)?

    init(pipeline: QueryPipeline, loop: LoopContext, connection: DoHConnectionHandler) {
        self.pipeline = pipeline
        self.loop = loop
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = nil
            refusal = Self.refusal(of: head)
        case .body(var chunk):
            guard refusal == nil else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > Self.maxMessage {
                refusal = (.payloadTooLarge, "a DNS message is at most \(Self.maxMessage) bytes")
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)  // not nil: checked just above
            }
        case .end:
            guard let head else { return }
            self.head = nil
            if let (status, reason) = refusal {
                refusal = nil
                return refuse(status, reason, head: head, context: context)
            }
            let message: ByteBuffer
            switch Self.message(of: head, body: body.take(), allocator: context.channel.allocator) {
            case .success(let decoded): message = decoded
            case .failure(let failure): return refuse(failure.status, failure.reason, head: head, context: context)
            }
            answer(message, head: head, context: context)
        }
    }

    private func answer(_ message: ByteBuffer, head: HTTPRequestHead, context: ChannelHandlerContext) {
        // An HTTP/2 stream's own channel has no address; its connection's is the client's.
        let client = context.channel.parent?.remoteAddress ?? context.channel.remoteAddress
        connection.active()
        let pad = EDNSPadding.requested(message)
        switch pipeline.respond(to: message, transport: .doh, client: client, loop: loop,
                                allocator: context.channel.allocator) {
        case .none:
            context.close(promise: nil)
        case .now(let reply):
            send(reply, padded: pad, head: head, context: context)
        case .later(let later):
            connection.began()
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            later.whenReady { reply in
                let (handler, context) = bound.value
                handler.connection.ended()
                guard context.channel.isActive else { return }
                if let reply {
                    handler.send(reply, padded: pad, head: head, context: context)
                } else {
                    context.close(promise: nil)
                }
            }
        }
    }

    /// The answer, padded (RFC 7830) when the query was; max-age is read before padding.
    private func send(_ reply: ByteBuffer, padded: Bool, head: HTTPRequestHead, context: ChannelHandlerContext) {
        let maxAge = MessageLayout.smallestTTL(reply) ?? 0
        let reply = padded ? EDNSPadding.padded(reply, allocator: context.channel.allocator) : reply
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: Self.contentType)
        headers.add(name: "content-length", value: String(reply.readableBytes))
        headers.add(name: "cache-control", value: "max-age=\(maxAge)")
        write(.ok, headers: headers, body: reply, head: head, context: context)
    }

    private func refuse(_ status: HTTPResponseStatus, _ reason: String, head: HTTPRequestHead,
                        context: ChannelHandlerContext) {
        let text = context.channel.allocator.buffer(string: reason + "\n")
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(text.readableBytes))
        if status == .methodNotAllowed { headers.add(name: "allow", value: "GET, POST") }
        write(status, headers: headers, body: text, head: head, context: context)
    }

    private func write(_ status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer, head: HTTPRequestHead,
                       context: ChannelHandlerContext) {
        var headers = headers
        // HTTP/1.x: a client that asked to close gets its answer, then the connection closes.
        let closing = head.version.major == 1 && !head.isKeepAlive
        if closing { headers.add(name: "connection", value: "close") }
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status,
                                                                   headers: headers))), promise: nil)
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        guard closing else {
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: done)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        done.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One broken request or connection is closed; no other client is affected.
        context.close(promise: nil)
    }

    /// Why a request is refused from its head alone: the path, the method, a POST's type and size.
    static func refusal(of head: HTTPRequestHead) -> (HTTPResponseStatus, String)? {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == Self.path else { return (.notFound, "DNS queries go to \(Self.path)") }
        switch head.method {
        case .GET:
            return nil
        case .POST:
            let type = head.headers.first(name: "content-type")?.split(separator: ";").first?
                .trimmingCharacters(in: .whitespaces).lowercased()
            guard type == contentType else {
                return (.unsupportedMediaType, "a POST body must be \(contentType)")
            }
            if let length = head.headers.first(name: "content-length").flatMap({ Int($0) }), length > maxMessage {
                return (.payloadTooLarge, "a DNS message is at most \(maxMessage) bytes")
            }
            return nil
        default:
            return (.methodNotAllowed, "DNS over HTTPS takes GET and POST")
        }
    }

    struct Refusal: Error {
        let status: HTTPResponseStatus
        let reason: String
    }

    /// The DNS message of a request: the `dns` parameter of a GET, the body of a POST.
    static func message(of head: HTTPRequestHead, body: ByteBuffer?,
                        allocator: ByteBufferAllocator) -> Result<ByteBuffer, Refusal> {
        var message: ByteBuffer
        if head.method == .GET {
            let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
            guard let parameter = query.split(separator: "&").first(where: { $0.hasPrefix("dns=") }) else {
                return .failure(Refusal(status: .badRequest, reason: "a GET needs the query in ?dns="))
            }
            guard let bytes = base64URLDecoded(parameter.dropFirst(4)) else {
                return .failure(Refusal(status: .badRequest, reason: "?dns= is not base64url"))
            }
            guard bytes.count <= maxMessage else {
                return .failure(Refusal(status: .payloadTooLarge, reason: "a DNS message is at most \(maxMessage) bytes"))
            }
            message = allocator.buffer(bytes: bytes)
        } else {
            message = body ?? allocator.buffer(capacity: 0)
        }
        guard DNSHeader.isQuery(message) else {
            return .failure(Refusal(status: .badRequest, reason: "the request holds no DNS query"))
        }
        return .success(message)
    }

    /// base64url (RFC 4648 5) without padding, as RFC 8484 6 sends it; padding is tolerated.
    static func base64URLDecoded(_ text: Substring) -> [UInt8]? {
        var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        guard !standard.contains("=") || standard.hasSuffix("=") else { return nil }
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}

extension Optional {
    /// The value, leaving nil behind.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
