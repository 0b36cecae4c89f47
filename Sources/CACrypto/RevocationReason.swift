/// RFC 5280 §5.3.1 CRLReason codes (7 is unused; aACompromise is for attribute certificates).
public enum RevocationReason: String, CaseIterable, Codable, Sendable {
    case unspecified
    case keyCompromise
    case cACompromise
    case affiliationChanged
    case superseded
    case cessationOfOperation
    case certificateHold
    case removeFromCRL
    case privilegeWithdrawn

    public var code: Int32 {
        switch self {
        case .unspecified: return 0
        case .keyCompromise: return 1
        case .cACompromise: return 2
        case .affiliationChanged: return 3
        case .superseded: return 4
        case .cessationOfOperation: return 5
        case .certificateHold: return 6
        case .removeFromCRL: return 8
        case .privilegeWithdrawn: return 9
        }
    }
}
