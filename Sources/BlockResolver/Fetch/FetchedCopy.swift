import Foundation
import ResolverConfig
#if canImport(Glibc)
import Glibc
#endif

/// The last good copy of a downloaded list at the list's `path`, and what the server said of it
/// in `path.meta` (`Validators`): a download goes to `path.tmp` (next to the copy, so that the
/// rename is atomic), is parsed and judged there, and only then takes the copy's place.
struct FetchedCopy {
    let list: ListSettings

    var path: String { list.path }
    var temporaryPath: String { list.path + ".tmp" }
    var metaPath: String { list.path + ".meta" }

    /// What the next request sends back (If-None-Match, If-Modified-Since), and where the copy came from.
    struct Validators: Codable, Equatable {
        var url: String
        var etag: String?
        var lastModified: String?
    }

    /// The validators of the copy now at `path`, when both are there and came from the URL in
    /// the config (a copy from another address is no answer to a conditional request here).
    func validators() -> Validators? {
        guard FileManager.default.fileExists(atPath: path),
              let data = FileManager.default.contents(atPath: metaPath),
              let meta = try? JSONDecoder().decode(Validators.self, from: data)
        else { return nil }
        return meta
    }

    func validatorsForRequest(url: String) -> Validators? {
        validators().flatMap { $0.url == url ? $0 : nil }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses the download at `temporaryPath` as the list's format and judges it as a reload
    /// would (`PolicyLoader.fault`, against the entries served now): the parse and the file's
    /// identity when it is fit to serve, else a `Failure` saying why (the file is removed).
    func judgeDownload(previousEntries: Int) throws -> (parsed: ParsedList, identity: ListFile.Identity) {
        var settings = list
        settings.path = temporaryPath
        let read: (parsed: ParsedList, identity: ListFile.Identity)
        do {
            read = try PolicyLoader.read(settings, recordLines: false, problemsKept: ListReport.problemsLogged)
        } catch {
            discardDownload()
            throw Failure(description: "cannot read the download: \(error)")
        }
        if let fault = PolicyLoader.fault(of: read.parsed, list: list, previousEntries: previousEntries) {
            discardDownload()
            throw Failure(description: "the download is not fit to serve: \(fault)")
        }
        return read
    }

    /// Puts the judged download in the copy's place, then its validators (each by a rename, so a
    /// crash leaves the old or the new file, never half of one). A copy whose meta could not be
    /// written is still good; it only costs a full download next time.
    func install(_ validators: Validators) throws {
        if rename(temporaryPath, path) != 0 {
            let reason = String(cString: strerror(errno))
            discardDownload()
            throw Failure(description: "cannot rename the download to \(list.pathAsWritten): \(reason)")
        }
        let metaTemporary = metaPath + ".tmp"
        if let data = try? JSONEncoder().encode(validators),
           FileManager.default.createFile(atPath: metaTemporary, contents: data) {
            if rename(metaTemporary, metaPath) != 0 { unlink(metaTemporary) }
        } else {
            unlink(metaPath)  // stale validators would make the server answer 304 for a copy they do not describe
        }
    }

    func discardDownload() {
        unlink(temporaryPath)
    }
}
