import CLdns
import ResolverConfig

/// What an answer leads the client to, beyond the question name: the names its CNAME and DNAME
/// records alias the question to, in chain order, and its A and AAAA addresses. The response
/// policy judges these (`ResponsePolicyStage`), for relayed and cached answers alike.
///
/// Read once per upstream reply, from the records ldns parsed (so every compression pointer is
/// already resolved), and kept with the reply image; a cached answer is judged again from it
/// under the policy of the moment, without parsing anything.
struct AnswerChain: Sendable {
    /// One name the question is aliased to.
    struct Link: Sendable {
        /// Lower-case wire form.
        let name: [UInt8]
        /// Answer records up to and including the one that leads to this name: the chain "up to
        /// the matching name" that an RPZ answer keeps.
        let recordsThrough: Int
    }

    /// One A or AAAA record of the chain.
    struct Address: Sendable {
        /// 4 or 16 bytes.
        let bytes: [UInt8]
        /// Whose address: 0 for the question name, k for `links[k - 1]`.
        let owner: Int
    }

    let links: [Link]
    let addresses: [Address]

    static let empty = AnswerChain(links: [], addresses: [])

    /// Longest chain followed; a longer one is judged up to here (upstreams stop at 8 to 16).
    static let maxLinks = 16

    var isEmpty: Bool { links.isEmpty && addresses.isEmpty }

    init(links: [Link], addresses: [Address]) {
        self.links = links
        self.addresses = addresses
    }

    /// The chain of `packet`'s answer section from `question` (lower-case wire form): each CNAME
    /// whose owner is the current name, else a DNAME whose owner is a suffix of it (RFC 6672:
    /// the name is rewritten, and the synthesised CNAME, when the upstream sent it, is found
    /// first anyway), then the A and AAAA records owned by any name of the chain.
    init(_ packet: LdnsPacket, question: [UInt8]) {
        guard let list = ldns_pkt_answer(packet.pointer), ldns_rr_list_rr_count(list) > 0 else {
            self = .empty
            return
        }
        let count = ldns_rr_list_rr_count(list)
        let aliased = (0..<count).contains { index in
            let type = ldns_rr_get_type(ldns_rr_list_rr(list, index))
            return type == LDNS_RR_TYPE_CNAME || type == LDNS_RR_TYPE_DNAME
        }
        if !aliased {
            // Most answers: no chain, only the question's own addresses, read without a copy of
            // any owner name (every upstream reply passes here).
            self.init(links: [], addresses: Self.ownAddresses(list, question: question))
            return
        }
        struct Record {
            let owner: [UInt8]
            let type: ldns_rr_type
            let data: UnsafeMutablePointer<ldns_rdf>?
        }
        var records: [Record] = []
        for index in 0..<ldns_rr_list_rr_count(list) {
            guard let record = ldns_rr_list_rr(list, index), let owner = ldns_rr_owner(record),
                  ldns_rr_get_class(record) == LDNS_RR_CLASS_IN else {
                records.append(Record(owner: [], type: LDNS_RR_TYPE_NULL, data: nil))
                continue
            }
            records.append(Record(owner: Self.lowercased(owner), type: ldns_rr_get_type(record),
                                  data: ldns_rr_rd_count(record) > 0 ? ldns_rr_rdf(record, 0) : nil))
        }
        var links: [Link] = []
        var current = question
        var owners = [question]
        while links.count < Self.maxLinks {
            var next: Link? = nil
            if let index = records.firstIndex(where: { $0.type == LDNS_RR_TYPE_CNAME && $0.owner == current }),
               let target = records[index].data {
                next = Link(name: Self.lowercased(target), recordsThrough: index + 1)
            } else if let index = records.firstIndex(where: {
                $0.type == LDNS_RR_TYPE_DNAME && Self.suffixStart(of: $0.owner, in: current) != nil
            }), let target = records[index].data, let start = Self.suffixStart(of: records[index].owner, in: current) {
                let synthesised = Array(current[..<start]) + Self.lowercased(target)
                if synthesised.count <= 255 { next = Link(name: synthesised, recordsThrough: index + 1) }
            }
            guard let next, !owners.contains(next.name) else { break }  // the end, or a loop
            links.append(next)
            owners.append(next.name)
            current = next.name
        }
        var addresses: [Address] = []
        for record in records where record.type == LDNS_RR_TYPE_A || record.type == LDNS_RR_TYPE_AAAA {
            guard let data = record.data, let owner = owners.firstIndex(of: record.owner),
                  let bytes = ldns_rdf_data(data), ldns_rdf_size(data) == (record.type == LDNS_RR_TYPE_A ? 4 : 16)
            else { continue }
            addresses.append(Address(bytes: Array(UnsafeBufferPointer(start: bytes, count: ldns_rdf_size(data))),
                                     owner: owner))
        }
        self.init(links: links, addresses: addresses)
    }

    /// The A and AAAA records of `list` owned by `question` (lower-case wire form).
    private static func ownAddresses(_ list: UnsafeMutablePointer<ldns_rr_list>, question: [UInt8]) -> [Address] {
        var addresses: [Address] = []
        for index in 0..<ldns_rr_list_rr_count(list) {
            guard let record = ldns_rr_list_rr(list, index), ldns_rr_get_class(record) == LDNS_RR_CLASS_IN else { continue }
            let type = ldns_rr_get_type(record)
            guard type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA, ldns_rr_rd_count(record) > 0,
                  let owner = ldns_rr_owner(record), let ownerData = ldns_rdf_data(owner),
                  ldns_rdf_size(owner) == question.count,
                  let data = ldns_rr_rdf(record, 0), let bytes = ldns_rdf_data(data),
                  ldns_rdf_size(data) == (type == LDNS_RR_TYPE_A ? 4 : 16)
            else { continue }
            var same = true
            for position in 0..<question.count where DomainName.lowercase(ownerData[position]) != question[position] {
                same = false
                break
            }
            if same {
                addresses.append(Address(bytes: Array(UnsafeBufferPointer(start: bytes, count: ldns_rdf_size(data))), owner: 0))
            }
        }
        return addresses
    }

    /// The records kept of an answer when the chain is cut at the name in position `owner` (0:
    /// the question name, so none).
    func recordsThrough(owner: Int) -> Int {
        owner == 0 ? 0 : links[owner - 1].recordsThrough
    }

    /// The name in position `owner` (0: the question), lower-case wire form.
    func name(owner: Int, question: [UInt8]) -> [UInt8] {
        owner == 0 ? question : links[owner - 1].name
    }

    private static func lowercased(_ rdf: UnsafeMutablePointer<ldns_rdf>) -> [UInt8] {
        guard let data = ldns_rdf_data(rdf) else { return [0] }
        return UnsafeBufferPointer(start: data, count: ldns_rdf_size(rdf)).map(DomainName.lowercase)
    }

    /// Where `suffix` starts in `name` when it is a proper suffix of it (both wire form).
    private static func suffixStart(of suffix: [UInt8], in name: [UInt8]) -> Int? {
        var index = 0
        while index < name.count && name[index] != 0 {
            index += Int(name[index]) + 1
            if name.count - index == suffix.count && name[index...].elementsEqual(suffix) { return index }
        }
        return nil
    }
}
