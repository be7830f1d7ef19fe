import NIOCore

/// Splits a TCP byte stream into DNS messages framed by a 2-byte length (RFC 1035 4.2.2,
/// RFC 7766). A partial frame just waits for more bytes; the idle timeout deals with a client
/// that never sends them.
struct DNSFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        // `length` bytes are readable, checked above.
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData  // a partial frame at EOF is discarded
    }
}

extension ByteBuffer {
    /// Writes `message` behind its 2-byte length, as TCP DNS frames it.
    mutating func writeDNSFrame(_ message: ByteBuffer) {
        writeInteger(UInt16(message.readableBytes))
        writeImmutableBuffer(message)
    }
}
