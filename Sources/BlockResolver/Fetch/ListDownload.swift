import AsyncHTTPClient
import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ResolverConfig
#if canImport(Glibc)
import Glibc
#endif

/// Downloads of lists over HTTPS with async-http-client: TLS (the system's store or the list's
/// CA), redirects, gzip, the deadline and the streaming of the body are the library's; what is
/// here is what a list needs on top: the conditional request, the size limit, the body streamed
/// into the temporary file next to the copy (never held in memory whole).
///
/// The client runs on an event loop group of its own (one thread), never on the DNS loops; the
/// body is written by a task that the fetch thread waits for (`ListFetchService`).
final class ListDownloader: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let client: HTTPClient
    /// Redirects followed before a download is given up (a cycle ends it at once).
    static let maxRedirects = 5

    init() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // The size limit is `max_bytes`, counted on the decoded bytes as they are written.
        let configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: Self.maxRedirects, allowCycles: false),
            decompression: .enabled(limit: .none))
        client = HTTPClient(eventLoopGroup: group, configuration: configuration)
    }

    /// Ends the client (an unfinished download fails) and its thread.
    func shutdown() {
        client.shutdown { [group] _ in group.shutdownGracefully { _ in } }
    }

    enum Outcome: Sendable {
        /// 304: the copy is current.
        case notModified
        /// 200: the body is in the copy's temporary file, `bytes` long once decoded.
        case downloaded(bytes: Int, validators: FetchedCopy.Validators)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// The `result` label of `dns_fetches_total`.
        var result = "failure"
    }

    /// `download`, waited for on the calling thread (the fetch thread, never an event loop).
    func downloadWaiting(_ fetch: ListFetchSettings, to copy: FetchedCopy) -> Result<Outcome, Error> {
        let box = DownloadResultBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                box.set(.success(try await self.download(fetch, to: copy)))
            } catch {
                box.set(.failure(error))
            }
            done.signal()
        }
        done.wait()
        return box.get()
    }

    /// One GET of the list's URL, conditional on the copy's validators; a 200's body goes to the
    /// copy's temporary file. Any failure leaves no temporary file behind.
    func download(_ fetch: ListFetchSettings, to copy: FetchedCopy) async throws -> Outcome {
        var request = HTTPClientRequest(url: fetch.url)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "block-resolver")
        request.headers.add(name: "Accept-Encoding", value: "gzip")
        for header in fetch.headers { request.headers.add(name: header.name, value: header.value) }
        let sent = copy.validatorsForRequest(url: fetch.url)
        if let etag = sent?.etag { request.headers.add(name: "If-None-Match", value: etag) }
        if let date = sent?.lastModified { request.headers.add(name: "If-Modified-Since", value: date) }
        if let ca = fetch.caPath {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(ca)
            request.tlsConfiguration = tls
        }
        let deadline = NIODeadline.now() + .seconds(Int64(fetch.timeoutSeconds))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch {
            throw Failure(description: Self.explain(error, fetch))
        }
        // The library follows an https address redirected to plain http; a list is not taken so.
        if fetch.url.lowercased().hasPrefix("https:"), let final = response.url, final.scheme?.lowercased() != "https" {
            throw Failure(description: "redirected to \(final.absoluteString), which is not https")
        }
        switch response.status.code {
        case 304 where sent != nil:
            return .notModified
        case 200:
            break
        default:
            throw Failure(description: "HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
        if response.headers.first(name: "content-encoding") == nil,
           let length = response.headers.first(name: "content-length").flatMap(Int.init), length > fetch.maxBytes {
            throw Failure(description: "the body is \(length) bytes, more than max_bytes (\(fetch.maxBytes))", result: "too_large")
        }
        let bytes = try await write(response.body, to: copy, maxBytes: fetch.maxBytes, deadline: deadline,
                                    timeoutSeconds: fetch.timeoutSeconds)
        let validators = FetchedCopy.Validators(url: fetch.url, etag: response.headers.first(name: "etag"),
                                                lastModified: response.headers.first(name: "last-modified"))
        return .downloaded(bytes: bytes, validators: validators)
    }

    /// What a failed request says in the log: the TLS refusals and the deadline in an operator's words,
    /// with the library's own text after them.
    static func explain(_ error: Error, _ fetch: ListFetchSettings) -> String {
        let text = "\(error)"
        let host = URL(string: fetch.url)?.host ?? fetch.url
        if let ssl = error as? NIOSSLExtraError, ssl == .failedToValidateHostname {
            return "TLS: the server's certificate does not name \(host) (\(text))"
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            let trusted = fetch.caPath.map { "the CA of `ca` (\($0))" } ?? "a CA of the system's store (set `ca` for a private one)"
            return "TLS: the server's certificate is not signed by \(trusted) (\(text))"
        }
        if let client = error as? HTTPClientError, client == .deadlineExceeded {
            return "no answer within timeout_s (\(fetch.timeoutSeconds) s): deadline passed"
        }
        return text
    }

    /// `stream`, unless `deadline` passes first: the client's deadline ends at the response's head,
    /// so a server that sends part of the body and goes silent (or drips it) is cut off here.
    private func write(_ body: HTTPClientResponse.Body, to copy: FetchedCopy, maxBytes: Int,
                       deadline: NIODeadline, timeoutSeconds: Int) async throws -> Int {
        let left = deadline - .now()
        let written = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask { try await self.stream(body, to: copy, maxBytes: maxBytes) }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(left.nanoseconds, 0)))
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let written else {
            copy.discardDownload()
            throw Failure(description: "the body did not arrive within timeout_s (\(timeoutSeconds) s): deadline passed")
        }
        return written
    }

    /// Streams `body` into the copy's temporary file, a chunk at a time; returns its length.
    private func stream(_ body: HTTPClientResponse.Body, to copy: FetchedCopy, maxBytes: Int) async throws -> Int {
        let fd = open(copy.temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw Failure(description: "cannot write \(copy.temporaryPath): \(String(cString: strerror(errno)))")
        }
        var written = 0
        do {
            defer { close(fd) }
            for try await chunk in body {
                written += chunk.readableBytes
                if written > maxBytes {
                    // Leaving the loop cancels the request: the rest is never read.
                    throw Failure(description: "the body passed max_bytes (\(maxBytes)); cut off", result: "too_large")
                }
                try Self.writeAll(fd, chunk, path: copy.temporaryPath)
            }
            if fsync(fd) != 0 { throw Failure(description: "cannot sync \(copy.temporaryPath)") }
        } catch {
            copy.discardDownload()
            throw error
        }
        return written
    }

    private static func writeAll(_ fd: Int32, _ chunk: ByteBuffer, path: String) throws {
        try chunk.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let done = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if done < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += done
            }
        }
    }
}

/// The result of a download, handed from its task to the waiting thread.
private final class DownloadResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<ListDownloader.Outcome, Error> = .failure(ListDownloader.Failure(description: "not run"))

    func set(_ result: Result<ListDownloader.Outcome, Error>) { lock.withLock { value = result } }
    func get() -> Result<ListDownloader.Outcome, Error> { lock.withLock { value } }
}
