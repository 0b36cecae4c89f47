import FoundationEssentials

/// What ca grants a certificate request: exactly its profile (from the host record, or the names
/// given for a one-off), on a key type ca issues, for a requester who proved it holds the key. A
/// request that asks for anything beyond the profile is refused with what it asked for, never
/// trimmed silently: the host then knows its request was not what it got.
public enum RequestPolicy {
    /// The request's public key, once every check has passed. `what` names the request in errors
    /// ("the server request for 'db3.example.com'").
    public static func check(_ request: CertificateRequest, against profile: Profile, what: String) throws -> PublicKey {
        func refuse(_ why: String, fix: String? = nil) -> CAError { .invalid("refusing to sign \(what): \(why)", fix: fix) }
        guard request.isSelfSigned else {
            throw refuse("its signature does not verify with the key it carries (it was altered, or signed by another key)",
                         fix: "Make the request again on the host ('ca request', or 'openssl req -new -key KEY').")
        }
        guard let key = request.publicKey else { throw refuse("its public key cannot be read") }
        guard key.type != nil else {
            throw refuse("its key is \(key.algorithm); ca signs \(KeyType.spellings) keys (RSA of 2048, 3072 or 4096 bits)",
                         fix: "Make the key again with an accepted type, e.g. 'ca request --new-key --key ec-p256'.")
        }
        // The subject: every attribute asked for must be the profile's own, with the profile's value.
        let granted = Dictionary(profile.subject.attributes.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let extra = request.subjectAttributes.filter { granted[$0.name] != $0.value }
        if !extra.isEmpty {
            let asked = extra.map { "\($0.name)=\($0.value)" }.joined(separator: ", ").quotedForError
            let gives = profile.subject.attributes.map { "\($0.0)=\($0.1)" }.joined(separator: ", ").quotedForError
            throw refuse("it asks for the subject '\(asked)', but \(profile.kind == nil ? "the profile" : "the host record") gives '\(gives)'",
                         fix: "Request that subject, or none (the certificate's subject comes from the record anyway).")
        }
        let wishes: CertificateRequest.Wishes
        do { wishes = try request.wishes() } catch { throw refuse("\(error)") }
        if wishes.certificateAuthority == true { throw refuse("it asks to be a CA (basicConstraints CA:TRUE); ca signs leaves only") }
        // DNS names compare without case (RFC 4343); the certificate carries the record's spelling anyway.
        func folded(_ name: GeneralName) -> GeneralName { if case .dnsName(let dns) = name { return .dnsName(dns.lowercased()) }; return name }
        let names = Set(profile.subjectAlternativeNames.map(folded))
        let unknown = wishes.names.filter { !names.contains(folded($0)) }.map(\.description) + wishes.otherNames
        if !unknown.isEmpty {
            let listed = unknown.joined(separator: ", ").quotedForError
            throw refuse(names.isEmpty ? "it asks for subjectAltNames (\(listed)); this certificate carries none"
                                       : "it asks for \(listed), which \(profile.kind == nil ? "the names given" : "the host record") does not name",
                         fix: names.isEmpty ? nil : "Request only the host's names (\(profile.subjectAlternativeNames.map(\.description).joined(separator: ", "))), or record the name on the host first.")
        }
        let usages = wishes.extendedKeyUsage.filter { !profile.extendedKeyUsage.contains($0) }.map(\.rawValue) + wishes.otherExtendedKeyUsages
        if !usages.isEmpty {
            throw refuse("it asks for the extended key usage \(usages.joined(separator: ", ").quotedForError); this certificate is for \(profile.extendedKeyUsage.map(\.rawValue).joined(separator: ", "))")
        }
        let allowedUsage = ["digitalSignature"] + ((key.type?.isRSA ?? false) ? ["keyEncipherment"] : [])
        let keyUsage = wishes.keyUsage.filter { !allowedUsage.contains($0) }
        if !keyUsage.isEmpty {
            throw refuse("it asks for the key usage \(keyUsage.joined(separator: ", ")); ca grants \(allowedUsage.joined(separator: ", ")) to a leaf")
        }
        if !wishes.otherExtensions.isEmpty {
            throw refuse("it asks for extensions ca does not grant: \(wishes.otherExtensions.joined(separator: ", ").quotedForError)")
        }
        return key
    }
}
