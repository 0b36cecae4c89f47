/// One result of `doctor`: a check, its verdict, the path it is about, why, and the fix.
public struct Finding: Sendable {
    public enum Level: String, Sendable, Comparable {
        case ok = "OK", warn = "WARN", fail = "FAIL"
        var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }

    public let level: Level
    public let check: String
    public let path: String?
    public let reason: String
    public let fix: String?
}
