import FoundationEssentials

/// ca's notion of now. `CA_TEST_CLOCK_OFFSET` (whole seconds, ±20 years at most) moves it, for tests
/// that need certificates and CRLs made in the past (near expiry now) while real servers check them
/// with the real clock; ca warns on standard error whenever it is set. Timeouts and durations use the
/// real clock, never this one.
public enum Clock {
    public static let offset: TimeInterval = {
        guard let text = Environment.value("CA_TEST_CLOCK_OFFSET"), let seconds = Int(text),
              abs(seconds) <= 20 * 366 * 86_400 else { return 0 }
        return TimeInterval(seconds)
    }()

    public static func now() -> Date { Date().addingTimeInterval(offset) }
}
